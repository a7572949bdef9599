"""Containers and List Blobs, through the SDK."""

import datetime as dt

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, BlobType

from interop_util import ACCOUNT, ACCOUNT_KEY, CLIENT_KWARGS, unique


def test_connection_string_full_form_points_at_path_style_endpoint(conn_str, port):
    svc = BlobServiceClient.from_connection_string(conn_str, **CLIENT_KWARGS)
    assert svc.account_name == ACCOUNT
    assert svc.url.rstrip("/") == f"http://127.0.0.1:{port}/{ACCOUNT}"
    assert svc.credential.account_key == ACCOUNT_KEY
    # and it really talks to the server
    cc = svc.get_container_client(unique("cs"))
    cc.create_container()
    try:
        assert cc.exists() is True
    finally:
        cc.delete_container()


def test_create_exists_delete(service):
    cc = service.get_container_client(unique("ced"))
    assert cc.exists() is False
    cc.create_container()
    assert cc.exists() is True
    cc.delete_container()
    assert cc.exists() is False
    with pytest.raises(ResourceNotFoundError) as ei:
        cc.delete_container()
    assert ei.value.error_code == "ContainerNotFound"
    assert ei.value.status_code == 404


def test_recreate_is_conflict(container):
    with pytest.raises(ResourceExistsError) as ei:
        container.create_container()
    assert ei.value.status_code == 409
    assert ei.value.error_code == "ContainerAlreadyExists"
    assert container.exists() is True


def test_container_properties(service):
    name = unique("props")
    cc = service.get_container_client(name)
    created = cc.create_container(metadata={"owner": "interop", "purpose": "backup"})
    try:
        props = cc.get_container_properties()
        assert props.name == name
        assert props.metadata == {"owner": "interop", "purpose": "backup"}
        assert props.etag and props.etag == created["etag"]
        now = dt.datetime.now(dt.timezone.utc)
        assert abs((props.last_modified - now).total_seconds()) < 300, props.last_modified
    finally:
        cc.delete_container()
    with pytest.raises(ResourceNotFoundError) as ei:
        cc.get_container_properties()
    assert ei.value.error_code == "ContainerNotFound"


def test_blob_in_missing_container(service):
    bc = service.get_blob_client(unique("nocontainer"), "b")
    with pytest.raises(ResourceNotFoundError) as ei:
        bc.upload_blob(b"x")
    assert ei.value.error_code == "ContainerNotFound"
    with pytest.raises(ResourceNotFoundError) as ei:
        bc.download_blob()
    assert ei.value.error_code == "ContainerNotFound"


def test_list_blobs_name_starts_with(container):
    names = ["a/1", "a/2", "a/sub/3", "ab", "b/1"]
    for n in reversed(names):
        container.upload_blob(n, n.encode() * 3)
    assert [b.name for b in container.list_blobs(name_starts_with="a/")] == ["a/1", "a/2", "a/sub/3"]
    assert [b.name for b in container.list_blobs(name_starts_with="a")] == ["a/1", "a/2", "a/sub/3", "ab"]
    assert list(container.list_blob_names(name_starts_with="zz")) == []
    listed = list(container.list_blobs())
    assert [b.name for b in listed] == sorted(names)
    assert {b.name: b.size for b in listed} == {n: 3 * len(n) for n in names}
    assert {b.blob_type for b in listed} == {BlobType.BLOCKBLOB}
    assert all(b.etag and b.last_modified for b in listed)


def test_list_blobs_paging_and_continuation(container):
    names = [f"blob-{i:02d}" for i in range(7)]
    for n in names:
        container.upload_blob(n, b"x")

    pages = [[b.name for b in page] for page in container.list_blobs(results_per_page=3).by_page()]
    assert pages == [names[0:3], names[3:6], names[6:7]]

    pager = container.list_blobs(results_per_page=3).by_page()
    first = [b.name for b in next(pager)]
    assert first == names[0:3]
    token = pager.continuation_token
    assert token, "no NextMarker after a full page"
    resumed = container.list_blobs(results_per_page=3).by_page(continuation_token=token)
    assert [[b.name for b in p] for p in resumed] == [names[3:6], names[6:7]]

    # paging combined with a prefix
    pages = [[b.name for b in p]
             for p in container.list_blobs(name_starts_with="blob-0", results_per_page=4).by_page()]
    assert pages == [names[0:4], names[4:7]]


def test_list_blobs_include_snapshots_and_metadata(container):
    bc = container.upload_blob("disk", b"v1", metadata={"gen": "1"})
    snap = bc.create_snapshot()
    bc.upload_blob(b"v2-longer", overwrite=True, metadata={"gen": "2"})
    container.upload_blob("other", b"x")

    items = list(container.list_blobs(include=["snapshots", "metadata"]))
    got = sorted((b.name, b.snapshot or "", b.size, dict(b.metadata or {})) for b in items)
    assert got == sorted([
        ("disk", "", 9, {"gen": "2"}),
        ("disk", snap["snapshot"], 2, {"gen": "1"}),
        ("other", "", 1, {}),
    ])

    # without include: no snapshots
    plain = list(container.list_blobs())
    assert [(b.name, b.snapshot) for b in plain] == [("disk", None), ("other", None)]
    # metadata only: no snapshots, metadata present
    meta = list(container.list_blobs(include=["metadata"]))
    assert [(b.name, b.snapshot, dict(b.metadata or {})) for b in meta] == [
        ("disk", None, {"gen": "2"}), ("other", None, {})]


def test_list_blobs_snapshots_oldest_first(container):
    bc = container.upload_blob("disk", b"v1")
    s1 = bc.create_snapshot()["snapshot"]
    s2 = bc.create_snapshot()["snapshot"]
    s3 = bc.create_snapshot()["snapshot"]
    snaps = [b.snapshot for b in container.list_blobs(include=["snapshots"]) if b.snapshot]
    assert snaps == [s1, s2, s3]
