"""Block blobs through the SDK: Put Blob, Put Block / Put Block List, Get Blob, properties,
metadata, delete, conditional requests."""

import datetime as dt
import hashlib
import threading

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, BlobType, ContentSettings

from interop_util import TARGET, MiB, assert_bytes_equal, random_bytes


def test_upload_download_small(container):
    data = b"hello vaultsim\n"
    bc = container.get_blob_client("small.txt")
    r = bc.upload_blob(data)
    assert r["etag"] and r["last_modified"]
    assert bc.download_blob().readall() == data
    props = bc.get_blob_properties()
    assert props.size == len(data)
    assert props.blob_type == BlobType.BLOCKBLOB
    assert props.etag == r["etag"]
    assert props.content_settings.content_type == "application/octet-stream"
    # Put Blob stores the MD5 of the whole body
    assert bytes(props.content_settings.content_md5) == hashlib.md5(data).digest()
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((props.last_modified - now).total_seconds()) < 300
    assert abs((props.creation_time - now).total_seconds()) < 300


def test_upload_empty_blob(container):
    bc = container.get_blob_client("empty")
    bc.upload_blob(b"")
    assert bc.download_blob().readall() == b""
    assert bc.get_blob_properties().size == 0


def test_blob_names_with_slashes_and_unicode(container):
    names = ["dir/sub dir/file name.bin", "ünïcødé/ß.txt", "a+b=c&d.txt"]
    for i, n in enumerate(names):
        container.upload_blob(n, f"payload-{i}".encode())
    for i, n in enumerate(names):
        assert container.get_blob_client(n).download_blob().readall() == f"payload-{i}".encode()
    assert sorted(b.name for b in container.list_blobs()) == sorted(names)


def test_large_upload_uses_put_block_and_put_block_list(make_service, container):
    seen = []
    lock = threading.Lock()

    def hook(pipeline_request):
        req = pipeline_request.http_request
        with lock:
            seen.append((req.method, req.url))

    svc = make_service(max_single_put_size=4 * MiB, max_block_size=4 * MiB,
                       max_single_get_size=4 * MiB, max_chunk_get_size=4 * MiB, raw_request_hook=hook)
    bc = svc.get_blob_client(container.container_name, "big.bin")
    data = random_bytes(20 * MiB + 12345)
    bc.upload_blob(data, max_concurrency=4)

    puts = [u for m, u in seen if m == "PUT"]
    blocks = [u for u in puts if "comp=block&" in u or u.endswith("comp=block")]
    lists = [u for u in puts if "comp=blocklist" in u]
    assert len(blocks) == 6, puts  # ceil((20 MiB + 12345) / 4 MiB)
    assert len(lists) == 1, puts
    assert len(puts) == 7, puts  # no single-shot Put Blob

    props = bc.get_blob_properties()
    assert props.size == len(data)
    assert props.blob_type == BlobType.BLOCKBLOB

    # whole download, in several ranged GETs (first one 4 MiB, then 4 MiB chunks)
    seen.clear()
    assert_bytes_equal(bc.download_blob(max_concurrency=3).readall(), data, "whole download")
    gets = [u for m, u in seen if m == "GET"]
    assert len(gets) >= 6, gets

    # ranged downloads, inside one chunk and across chunk boundaries
    for off, length in [(0, 1), (5 * MiB - 7, 3 * MiB), (len(data) - 100, 100), (4 * MiB, 9 * MiB + 1)]:
        assert_bytes_equal(bc.download_blob(offset=off, length=length).readall(), data[off:off + length],
                           f"range {off}+{length}")

    # SDK's stream interface over the same blob
    out = bytearray()
    for chunk in bc.download_blob(max_concurrency=1).chunks():
        out += chunk
    assert_bytes_equal(out, data, "chunks()")


def test_stage_and_commit_block_list(container):
    bc = container.get_blob_client("blocks")
    bc.stage_block("block-00", b"AAAA")
    bc.stage_block("block-01", b"BBBBBB")
    bc.stage_block("block-02", b"CC")
    # nothing committed yet: the blob does not exist
    with pytest.raises(ResourceNotFoundError) as ei:
        bc.download_blob()
    assert ei.value.error_code == "BlobNotFound"
    bc.commit_block_list([BlobBlock("block-02"), BlobBlock("block-00")])
    assert bc.download_blob().readall() == b"CCAAAA"
    assert bc.get_blob_properties().size == 6


def test_ranged_download(container):
    data = random_bytes(10000)
    bc = container.get_blob_client("ranged")
    bc.upload_blob(data)
    assert bc.download_blob(offset=0, length=1).readall() == data[:1]
    assert bc.download_blob(offset=9999, length=1).readall() == data[9999:]
    assert bc.download_blob(offset=100, length=50).readall() == data[100:150]
    assert bc.download_blob(offset=100).readall() == data[100:]
    # a range running past the end is cut at the end
    assert bc.download_blob(offset=5000, length=100000).readall() == data[5000:]


@pytest.mark.azurite_lacks("an x-ms-range starting at the size gets an empty 206, not 416 InvalidRange")
def test_ranged_download_past_the_end_is_invalid_range(container):
    bc = container.get_blob_client("ranged-past-end")
    bc.upload_blob(random_bytes(10000))
    with pytest.raises(HttpResponseError) as ei:
        bc.download_blob(offset=10000, length=10)
    assert ei.value.status_code == 416
    assert ei.value.error_code == "InvalidRange"


def test_properties_and_content_settings(container):
    data = b"{}" * 100
    bc = container.get_blob_client("settings.json")
    bc.upload_blob(data, content_settings=ContentSettings(
        content_type="application/json", cache_control="no-cache", content_language="en-US",
        content_disposition="attachment; filename=settings.json"), metadata={"k1": "v1", "k2": "v2"})
    props = bc.get_blob_properties()
    cs = props.content_settings
    assert (cs.content_type, cs.cache_control, cs.content_language, cs.content_disposition) == (
        "application/json", "no-cache", "en-US", "attachment; filename=settings.json")
    assert props.metadata == {"k1": "v1", "k2": "v2"}
    assert props.size == len(data)
    # a GET returns the same headers
    dl = bc.download_blob()
    assert dl.properties.content_settings.content_type == "application/json"
    assert dl.properties.metadata == {"k1": "v1", "k2": "v2"}
    assert dl.readall() == data


def test_set_and_get_metadata(container):
    bc = container.upload_blob("meta", b"abc")
    etag0 = bc.get_blob_properties().etag
    r = bc.set_blob_metadata({"a": "1", "b": "two words"})
    assert r["etag"] != etag0
    assert bc.get_blob_properties().metadata == {"a": "1", "b": "two words"}
    bc.set_blob_metadata({"c": "3"})  # replaces, does not merge
    assert bc.get_blob_properties().metadata == {"c": "3"}
    bc.set_blob_metadata({})
    assert bc.get_blob_properties().metadata == {}
    assert bc.download_blob().readall() == b"abc"


def test_metadata_name_case_is_preserved(container):
    bc = container.upload_blob("meta-case", b"abc", metadata={"vmName": "web01", "DiskLun": "0"})
    assert bc.get_blob_properties().metadata == {"vmName": "web01", "DiskLun": "0"}
    [item] = list(container.list_blobs(include=["metadata"]))
    assert dict(item.metadata) == {"vmName": "web01", "DiskLun": "0"}


def test_delete_blob(container):
    bc = container.upload_blob("gone", b"bye")
    assert bc.exists() is True
    bc.delete_blob()
    assert bc.exists() is False
    with pytest.raises(ResourceNotFoundError) as ei:
        bc.get_blob_properties()
    assert ei.value.error_code == "BlobNotFound"
    with pytest.raises(ResourceNotFoundError) as ei:
        bc.download_blob()
    assert ei.value.error_code == "BlobNotFound"
    with pytest.raises(ResourceNotFoundError) as ei:
        bc.delete_blob()
    assert ei.value.error_code == "BlobNotFound"
    assert [b.name for b in container.list_blobs()] == []


def test_etag_if_match_conditions(container):
    bc = container.get_blob_client("etag")
    e1 = bc.upload_blob(b"one")["etag"]
    e2 = bc.upload_blob(b"two", overwrite=True)["etag"]
    assert e1 != e2
    assert e2.startswith('"') and e2.endswith('"'), e2

    with pytest.raises(ResourceModifiedError) as ei:
        bc.upload_blob(b"three", overwrite=True, etag=e1, match_condition=MatchConditions.IfNotModified)
    assert ei.value.status_code == 412
    assert ei.value.error_code == "ConditionNotMet"
    assert bc.download_blob().readall() == b"two"

    with pytest.raises(ResourceModifiedError) as ei:
        bc.set_blob_metadata({"x": "y"}, etag=e1, match_condition=MatchConditions.IfNotModified)
    assert ei.value.error_code == "ConditionNotMet"
    assert bc.get_blob_properties().metadata == {}

    with pytest.raises(ResourceModifiedError) as ei:
        bc.download_blob(etag=e1, match_condition=MatchConditions.IfNotModified)
    assert ei.value.error_code == "ConditionNotMet"

    with pytest.raises(ResourceModifiedError) as ei:
        bc.delete_blob(etag=e1, match_condition=MatchConditions.IfNotModified)
    assert ei.value.error_code == "ConditionNotMet"
    assert bc.exists()

    # the current etag passes
    e3 = bc.upload_blob(b"three", overwrite=True, etag=e2, match_condition=MatchConditions.IfNotModified)["etag"]
    assert bc.download_blob(etag=e3, match_condition=MatchConditions.IfNotModified).readall() == b"three"
    bc.delete_blob(etag=e3, match_condition=MatchConditions.IfNotModified)
    assert not bc.exists()


def test_if_none_match_on_get_is_not_modified(container):
    bc = container.get_blob_client("etag304")
    etag = bc.upload_blob(b"data")["etag"]
    # A GET whose If-None-Match matches is answered 304. Which exception class the SDK raises
    # depends on whether the 304 carries x-ms-error-code (ConditionNotMet -> ResourceModifiedError,
    # none -> ResourceNotModifiedError), so only the status is asserted.
    with pytest.raises(HttpResponseError) as ei:
        bc.download_blob(etag=etag, match_condition=MatchConditions.IfModified)
    assert ei.value.status_code == 304
    bc.upload_blob(b"data2", overwrite=True)
    assert bc.download_blob(etag=etag, match_condition=MatchConditions.IfModified).readall() == b"data2"


def test_upload_without_overwrite_is_if_none_match(container):
    bc = container.get_blob_client("nooverwrite")
    bc.upload_blob(b"first")
    with pytest.raises(ResourceExistsError) as ei:
        bc.upload_blob(b"second", overwrite=False)
    assert ei.value.error_code == "BlobAlreadyExists"
    assert bc.download_blob().readall() == b"first"

    # explicit If-None-Match: * ; with overwrite=True the SDK does not translate a 412,
    # so this sees exactly what the service answered (409 BlobAlreadyExists)
    with pytest.raises(ResourceExistsError) as ei:
        bc.upload_blob(b"second", overwrite=True, match_condition=MatchConditions.IfMissing)
    assert ei.value.status_code == 409
    assert ei.value.error_code == "BlobAlreadyExists"
    assert bc.download_blob().readall() == b"first"

    # a new name passes the same condition
    other = container.get_blob_client("fresh")
    other.upload_blob(b"new", overwrite=True, match_condition=MatchConditions.IfMissing)
    assert other.download_blob().readall() == b"new"


def test_large_upload_without_overwrite_on_existing(make_service, container):
    svc = make_service(max_single_put_size=1 * MiB, max_block_size=1 * MiB)
    bc = svc.get_blob_client(container.container_name, "big-nooverwrite")
    first = random_bytes(3 * MiB)
    bc.upload_blob(first)
    with pytest.raises(ResourceExistsError):
        bc.upload_blob(random_bytes(3 * MiB), overwrite=False)
    assert_bytes_equal(bc.download_blob().readall(), first)


def test_page_operation_on_block_blob_is_invalid_blob_type(container):
    bc = container.upload_blob("block", b"x" * 1024)
    with pytest.raises(HttpResponseError) as ei:
        bc.upload_page(b"\x01" * 512, offset=0, length=512)
    assert ei.value.status_code == 409
    assert ei.value.error_code == "InvalidBlobType"
    assert bc.download_blob().readall() == b"x" * 1024
