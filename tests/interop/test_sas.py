"""Service SAS: tokens made by the SDK (generate_blob_sas / generate_container_sas) and by hand
for older signed versions, used through the SDK; the failures a SAS user sees."""

import datetime as dt
import re

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.blob import (
    AccessPolicy,
    BlobClient,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from interop_util import (
    ACCOUNT,
    ACCOUNT_KEY,
    CLIENT_KWARGS,
    assert_azure_error,
    raw_request,
    sas_replace,
    service_sas,
    tamper_signature,
    unique,
    utcnow,
)

HOUR = dt.timedelta(hours=1)
AUTH_FAILED = "Azurite answers 403 AuthorizationFailure, not AuthenticationFailed"
OTHER_KEY = "c2VjcmV0LWJ1dC1ub3QtdGhlLWFjY291bnQta2V5LWF0LWFsbC0xMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Ng=="


def blob_sas(container_name, blob_name, permission, *, key=ACCOUNT_KEY, **kw):
    kw.setdefault("expiry", utcnow() + HOUR)
    return generate_blob_sas(ACCOUNT, container_name, blob_name, account_key=key, permission=permission, **kw)


def container_sas(container_name, permission=None, *, key=ACCOUNT_KEY, **kw):
    if permission is not None or "policy_id" not in kw:
        kw.setdefault("expiry", utcnow() + HOUR)
    return generate_container_sas(ACCOUNT, container_name, account_key=key, permission=permission, **kw)


def sas_blob(account_url, container_name, blob_name, sas, snapshot=None) -> BlobClient:
    return BlobClient(account_url, container_name, blob_name, snapshot=snapshot, credential=sas, **CLIENT_KWARGS)


def sas_container(account_url, container_name, sas) -> ContainerClient:
    return ContainerClient(account_url, container_name, credential=sas, **CLIENT_KWARGS)


def parse_time(value) -> dt.datetime:
    """The SDK hands policy times back as the service wrote them ('...:35Z' or '...:35.0000000Z')."""
    if isinstance(value, dt.datetime):
        return value
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", value)
    assert m, f"unexpected time format {value!r}"
    frac = int((m.group(2) or "0")[:6].ljust(6, "0"))
    return dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(microsecond=frac, tzinfo=dt.timezone.utc)


def assert_authentication_failed(excinfo):
    e = excinfo.value
    assert e.status_code == 403, e
    assert e.error_code == "AuthenticationFailed", e


def assert_permission_mismatch(excinfo):
    e = excinfo.value
    assert e.status_code == 403, e
    assert e.error_code == "AuthorizationPermissionMismatch", e
    assert not isinstance(e, ClientAuthenticationError)


# ------------------------------------------------------------------------------------------
# The hand-made SAS helper reproduces the spec's known-answer vectors (no server needed).


def test_hand_made_sas_matches_known_vectors():
    dash_secondary = "Klari9ZbVdFQ35aULCfqqehCsd136amhusMHWynTpz2Pg+GyQMJw3GH177hvEQbaZ2oeRYk3jw0mIaV3ehNIRg=="
    q, sts = service_sas(sv="2014-02-14", sr="b", sp="r", canon_path="test/test.txt", st="2015-05-22T21:21:29Z",
                         se="2015-05-22T22:21:29Z", key=dash_secondary, account="dashstorage1")
    assert sts == "r\n2015-05-22T21:21:29Z\n2015-05-22T22:21:29Z\n/dashstorage1/test/test.txt\n\n2014-02-14\n\n\n\n\n"
    assert "sig=gXk4Bxt37rv65%2BwpEfuwa6BHz3Gk4hK6072dlUZiX0E%3D" in q
    q, _ = service_sas(sv="2015-04-05", sr="c", sp="rl", canon_path="test", se="2015-10-09T19:22:15Z",
                       sip="127.0.0.1", spr="https,http", key=dash_secondary, account="dashstorage1")
    assert "sig=1urZ3PGr2r8p6aX8%2FDkUY2d%2FGnjj%2Bwx2DCmNRQEx%2BM0%3D" in q
    q, _ = service_sas(sv="2026-10-06", sr="b", sp="rcw", canon_path="backups/vm1/disk0.vhd",
                       st="2024-01-01T00:00:00Z", se="2030-01-01T00:00:00Z", spr="https,http")
    assert "sig=CB6Wro4qxnvOnLZC%2BEl3i5EvlMvZZLhZYzDNMvMeq3Q%3D" in q
    q, _ = service_sas(sv="2026-10-06", sr="bs", sp="r", canon_path="backups/vm1/disk0.vhd",
                       se="2030-01-01T00:00:00Z", snapshot="2024-05-06T07:08:09.1234567Z")
    assert "sig=pNawYxStR2s27Hj3%2FSgADye58SBNQnQBq4e8a1rgtog%3D" in q
    # and the SDK agrees with the helper for the current version
    sdk = generate_blob_sas(ACCOUNT, "backups", "vm1/disk0.vhd", account_key=ACCOUNT_KEY, permission="rcw",
                            start="2024-01-01T00:00:00Z", expiry="2030-01-01T00:00:00Z", protocol="https,http")
    assert "sig=CB6Wro4qxnvOnLZC%2BEl3i5EvlMvZZLhZYzDNMvMeq3Q%3D" in sdk


# ------------------------------------------------------------------------------------------
# Working tokens


def test_blob_sas_read_through_credential_and_url(account_url, container):
    container.upload_blob("doc.txt", b"secret data")
    sas = blob_sas(container.container_name, "doc.txt", "r")
    assert sas_blob(account_url, container.container_name, "doc.txt", sas).download_blob().readall() == b"secret data"
    url_client = BlobClient.from_blob_url(f"{account_url}/{container.container_name}/doc.txt?{sas}", **CLIENT_KWARGS)
    assert url_client.download_blob().readall() == b"secret data"
    assert url_client.get_blob_properties().size == 11


@pytest.mark.parametrize("name", ["dir/sub dir/file name.bin", "ünïcødé/ß.txt", "a+b=c&d;e.txt"])
def test_blob_sas_for_names_that_need_encoding(account_url, container, name):
    container.upload_blob(name, b"encoded")
    sas = blob_sas(container.container_name, name, "rw")
    client = sas_blob(account_url, container.container_name, name, sas)
    assert client.download_blob().readall() == b"encoded"
    client.upload_blob(b"rewritten", overwrite=True)
    assert container.get_blob_client(name).download_blob().readall() == b"rewritten"
    csas = container_sas(container.container_name, "r")
    assert sas_container(account_url, container.container_name, csas).get_blob_client(name) \
        .download_blob().readall() == b"rewritten"


def test_blob_sas_with_write_creates_and_updates(account_url, container):
    sas = blob_sas(container.container_name, "written.bin", "rcw")
    bc = sas_blob(account_url, container.container_name, "written.bin", sas)
    bc.upload_blob(b"one")
    bc.upload_blob(b"two", overwrite=True)
    bc.set_blob_metadata({"via": "sas"})
    assert container.get_blob_client("written.bin").download_blob().readall() == b"two"
    assert container.get_blob_client("written.bin").get_blob_properties().metadata == {"via": "sas"}


def test_page_blob_work_through_a_blob_sas(account_url, container):
    sas = blob_sas(container.container_name, "disk.vhd", "racwd")
    bc = sas_blob(account_url, container.container_name, "disk.vhd", sas)
    bc.create_page_blob(4096)
    bc.upload_page(b"\x07" * 1024, offset=1024, length=1024)
    snap = bc.create_snapshot()["snapshot"]
    bc.clear_page(offset=1024, length=512)
    assert bc.download_blob().readall() == bytes(1536) + b"\x07" * 512 + bytes(2048)
    written, _ = bc.get_page_ranges()
    assert written == [{"start": 1536, "end": 2047}]
    snap_sas = blob_sas(container.container_name, "disk.vhd", "r", snapshot=snap)
    snap_client = sas_blob(account_url, container.container_name, "disk.vhd", snap_sas, snapshot=snap)
    assert snap_client.download_blob().readall() == bytes(1024) + b"\x07" * 1024 + bytes(2048)
    bc.delete_blob(delete_snapshots="include")
    assert not container.get_blob_client("disk.vhd").exists()


def test_container_sas_list_read_write(account_url, container):
    sas = container_sas(container.container_name, "racwdl")
    cc = sas_container(account_url, container.container_name, sas)
    cc.upload_blob("x/1", b"1")
    cc.upload_blob("x/2", b"22")
    cc.upload_blob("y/3", b"333")
    assert [b.name for b in cc.list_blobs()] == ["x/1", "x/2", "y/3"]
    assert [b.name for b in cc.list_blobs(name_starts_with="x/")] == ["x/1", "x/2"]
    assert cc.get_blob_client("y/3").download_blob().readall() == b"333"
    cc.delete_blob("x/1")
    assert [b.name for b in container.list_blobs()] == ["x/2", "y/3"]


def test_sas_in_a_connection_string(account_url, container):
    container.upload_blob("cs.txt", b"via connection string")
    sas = container_sas(container.container_name, "rl")
    svc = BlobServiceClient.from_connection_string(f"BlobEndpoint={account_url};SharedAccessSignature={sas}",
                                                   **CLIENT_KWARGS)
    cc = svc.get_container_client(container.container_name)
    assert [b.name for b in cc.list_blobs()] == ["cs.txt"]
    assert cc.get_blob_client("cs.txt").download_blob().readall() == b"via connection string"


def test_snapshot_sas_reads_the_snapshot(account_url, container):
    bc = container.upload_blob("snapped", b"version-1")
    snap = bc.create_snapshot()["snapshot"]
    bc.upload_blob(b"version-2", overwrite=True)
    sas = blob_sas(container.container_name, "snapped", "r", snapshot=snap)
    assert "sr=bs" in sas
    client = sas_blob(account_url, container.container_name, "snapped", sas, snapshot=snap)
    assert client.download_blob().readall() == b"version-1"
    assert client.get_blob_properties().snapshot == snap


@pytest.mark.azurite_lacks(AUTH_FAILED)
def test_snapshot_sas_does_not_open_the_base_blob(account_url, container):
    bc = container.upload_blob("snapped", b"version-1")
    snap = bc.create_snapshot()["snapshot"]
    sas = blob_sas(container.container_name, "snapped", "r", snapshot=snap)
    with pytest.raises(ClientAuthenticationError) as ei:
        sas_blob(account_url, container.container_name, "snapped", sas).download_blob()
    assert_authentication_failed(ei)


@pytest.mark.parametrize("expiry", ["2099-01-01", "2099-01-01T00:00Z", "2099-01-01T00:00:00Z",
                                    "2099-01-01T00:00:00.0000000Z"])
def test_sas_time_formats(account_url, container, expiry):
    container.upload_blob("t", b"time")
    sas = blob_sas(container.container_name, "t", "r", expiry=expiry, start="2000-01-01")
    assert sas_blob(account_url, container.container_name, "t", sas).download_blob().readall() == b"time"


# ------------------------------------------------------------------------------------------
# Permission letters: which operation needs which letter (spec §1.4 table)

BLOB_OPS = {
    # name: (letters that allow it, needs an existing blob)
    "read": ("r", True),
    "properties": ("r", True),
    "create_new": ("cw", False),
    "overwrite": ("w", True),
    "set_metadata": ("w", True),
    "snapshot": ("cw", True),
    "delete": ("d", True),
}
CONTAINER_ONLY_OPS = {"list": ("l", True)}


def run_op(op, client: BlobClient, container_client: ContainerClient, check: ContainerClient):
    """Do `op` through the SAS clients, then verify its effect through the Shared Key client `check`."""
    name = client.blob_name
    if op == "read":
        assert client.download_blob().readall() == b"original"
    elif op == "properties":
        assert client.get_blob_properties().size == len(b"original")
    elif op == "create_new":
        client.upload_blob(b"created")
        assert check.get_blob_client(name).download_blob().readall() == b"created"
    elif op == "overwrite":
        client.upload_blob(b"replaced", overwrite=True)
        assert check.get_blob_client(name).download_blob().readall() == b"replaced"
    elif op == "set_metadata":
        client.set_blob_metadata({"set": "yes"})
        assert check.get_blob_client(name).get_blob_properties().metadata == {"set": "yes"}
    elif op == "snapshot":
        sid = client.create_snapshot()["snapshot"]
        assert check.get_blob_client(name, snapshot=sid).download_blob().readall() == b"original"
    elif op == "delete":
        client.delete_blob()
        assert not check.get_blob_client(name).exists()
    elif op == "list":
        assert [b.name for b in container_client.list_blobs()] == [name]
    else:  # pragma: no cover
        raise AssertionError(op)


def assert_unchanged(op, name, check: ContainerClient):
    bc = check.get_blob_client(name)
    if op == "create_new":
        assert not bc.exists(), "a refused create left a blob behind"
        return
    assert bc.download_blob().readall() == b"original"
    if op == "set_metadata":
        assert bc.get_blob_properties().metadata == {}
    if op == "snapshot":
        assert [b.snapshot for b in check.list_blobs(include=["snapshots"])] == [None]


def permission_cases(ops, letters):
    return [pytest.param(op, p, p in allowed, id=f"{op}-{p}") for op, (allowed, _) in ops.items() for p in letters]


@pytest.mark.parametrize("op,perm,allowed", permission_cases(BLOB_OPS, "rcwd"))
def test_blob_sas_permission(account_url, container, op, perm, allowed):
    name = f"target-{op}"
    if BLOB_OPS[op][1]:
        container.upload_blob(name, b"original")
    sas = blob_sas(container.container_name, name, perm)
    client = sas_blob(account_url, container.container_name, name, sas)
    if allowed:
        run_op(op, client, None, container)
    else:
        with pytest.raises(HttpResponseError) as ei:
            run_op(op, client, None, container)
        assert_permission_mismatch(ei)
        assert_unchanged(op, name, container)


@pytest.mark.parametrize("op,perm,allowed", permission_cases({**BLOB_OPS, **CONTAINER_ONLY_OPS}, "rcwdl"))
def test_container_sas_permission(account_url, container, op, perm, allowed):
    name = f"target-{op}"
    if ({**BLOB_OPS, **CONTAINER_ONLY_OPS})[op][1]:
        container.upload_blob(name, b"original")
    sas = container_sas(container.container_name, perm)
    cc = sas_container(account_url, container.container_name, sas)
    if allowed:
        run_op(op, cc.get_blob_client(name), cc, container)
    else:
        with pytest.raises(HttpResponseError) as ei:
            run_op(op, cc.get_blob_client(name), cc, container)
        assert_permission_mismatch(ei)
        assert_unchanged(op, name, container)


def test_read_only_blob_sas_cannot_upload(account_url, container):
    container.upload_blob("ro", b"original")
    client = sas_blob(account_url, container.container_name, "ro", blob_sas(container.container_name, "ro", "r"))
    with pytest.raises(HttpResponseError) as ei:
        client.upload_blob(b"changed", overwrite=True)
    assert_permission_mismatch(ei)
    assert container.get_blob_client("ro").download_blob().readall() == b"original"


def test_container_sas_without_list_cannot_list(account_url, container):
    container.upload_blob("a", b"a")
    cc = sas_container(account_url, container.container_name, container_sas(container.container_name, "racwd"))
    assert cc.get_blob_client("a").download_blob().readall() == b"a"
    with pytest.raises(HttpResponseError) as ei:
        list(cc.list_blobs())
    assert_permission_mismatch(ei)


def test_service_sas_cannot_create_or_delete_containers(account_url, service, container):
    sas = container_sas(container.container_name, "racwdl")
    with pytest.raises(HttpResponseError) as ei:
        sas_container(account_url, container.container_name, sas).delete_container()
    assert ei.value.status_code == 403
    assert container.exists()
    other = unique("sasmk")
    sas_other = container_sas(other, "racwdl")
    with pytest.raises(HttpResponseError) as ei:
        sas_container(account_url, other, sas_other).create_container()
    assert ei.value.status_code == 403
    assert not service.get_container_client(other).exists()


# ------------------------------------------------------------------------------------------
# Tokens that must be refused as not authentic (403 AuthenticationFailed)


@pytest.mark.azurite_lacks(AUTH_FAILED)
def test_expired_sas(account_url, container):
    container.upload_blob("old", b"x")
    sas = blob_sas(container.container_name, "old", "r", start=utcnow() - 2 * HOUR, expiry=utcnow() - HOUR)
    with pytest.raises(ClientAuthenticationError) as ei:
        sas_blob(account_url, container.container_name, "old", sas).download_blob()
    assert_authentication_failed(ei)


@pytest.mark.azurite_lacks(AUTH_FAILED)
def test_not_yet_valid_sas(account_url, container):
    container.upload_blob("future", b"x")
    sas = blob_sas(container.container_name, "future", "r", start=utcnow() + HOUR, expiry=utcnow() + 2 * HOUR)
    with pytest.raises(ClientAuthenticationError) as ei:
        sas_blob(account_url, container.container_name, "future", sas).download_blob()
    assert_authentication_failed(ei)


@pytest.mark.azurite_lacks(AUTH_FAILED)
@pytest.mark.parametrize("how", ["flipped-signature", "permission-widened", "expiry-extended", "other-key",
                                 "resource-type-changed", "start-added"])
def test_forged_or_tampered_sas(account_url, container, how):
    container.upload_blob("guarded", b"x")
    cname = container.container_name
    expiry = utcnow() + HOUR
    sas = blob_sas(cname, "guarded", "r", expiry=expiry)
    if how == "flipped-signature":
        sas = tamper_signature(sas)
    elif how == "permission-widened":
        sas = sas_replace(sas, "sp", "rw")
    elif how == "expiry-extended":
        sas = sas_replace(sas, "se", (expiry + HOUR).strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ"))
    elif how == "other-key":
        sas = blob_sas(cname, "guarded", "r", key=OTHER_KEY)
    elif how == "resource-type-changed":
        sas = sas_replace(sas, "sr", "c")
    elif how == "start-added":
        sas = sas + "&st=" + (utcnow() - HOUR).strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
    with pytest.raises(ClientAuthenticationError) as ei:
        sas_blob(account_url, cname, "guarded", sas).download_blob()
    assert_authentication_failed(ei)


@pytest.mark.azurite_lacks(AUTH_FAILED)
def test_blob_sas_used_for_another_blob(account_url, container):
    container.upload_blob("mine", b"m")
    container.upload_blob("yours", b"y")
    sas = blob_sas(container.container_name, "mine", "r")
    assert sas_blob(account_url, container.container_name, "mine", sas).download_blob().readall() == b"m"
    with pytest.raises(ClientAuthenticationError) as ei:
        sas_blob(account_url, container.container_name, "yours", sas).download_blob()
    assert_authentication_failed(ei)


@pytest.mark.azurite_lacks(AUTH_FAILED)
def test_container_sas_used_for_another_container(account_url, service, container):
    other = service.get_container_client(unique("other"))
    other.create_container()
    try:
        other.upload_blob("b", b"b")
        sas = container_sas(container.container_name, "rl")
        with pytest.raises(ClientAuthenticationError) as ei:
            sas_blob(account_url, other.container_name, "b", sas).download_blob()
        assert_authentication_failed(ei)
    finally:
        other.delete_container()


@pytest.mark.azurite_lacks(AUTH_FAILED)
def test_wrong_shared_key(account_url, container):
    container.upload_blob("k", b"k")
    bad = BlobServiceClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={OTHER_KEY};BlobEndpoint={account_url};",
        **CLIENT_KWARGS)
    with pytest.raises(ClientAuthenticationError) as ei:
        bad.get_blob_client(container.container_name, "k").download_blob()
    assert_authentication_failed(ei)


def test_https_only_sas_over_http(account_url, container):
    container.upload_blob("tls", b"x")
    sas = blob_sas(container.container_name, "tls", "r", protocol="https")
    assert "spr=https&" in sas or sas.endswith("spr=https")
    with pytest.raises(HttpResponseError) as ei:
        sas_blob(account_url, container.container_name, "tls", sas).download_blob()
    assert ei.value.status_code == 403
    assert ei.value.error_code == "AuthorizationProtocolMismatch"


# ------------------------------------------------------------------------------------------
# Stored access policies (si=)


def test_stored_access_policy(account_url, container):
    start = utcnow() - dt.timedelta(minutes=5)
    expiry = utcnow() + HOUR
    container.set_container_access_policy(signed_identifiers={
        "readlist": AccessPolicy(permission=ContainerSasPermissions(read=True, list=True), expiry=expiry, start=start),
    })
    acl = container.get_container_access_policy()
    [ident] = acl["signed_identifiers"]
    assert ident.id == "readlist"
    assert ident.access_policy.permission == "rl"
    assert parse_time(ident.access_policy.start) == start
    assert parse_time(ident.access_policy.expiry) == expiry

    container.upload_blob("p/1", b"policy")
    sas = container_sas(container.container_name, policy_id="readlist")
    assert "si=readlist" in sas and "sp=" not in sas and "se=" not in sas
    cc = sas_container(account_url, container.container_name, sas)
    assert [b.name for b in cc.list_blobs()] == ["p/1"]
    assert cc.get_blob_client("p/1").download_blob().readall() == b"policy"
    with pytest.raises(HttpResponseError) as ei:
        cc.upload_blob("p/2", b"nope")
    assert_permission_mismatch(ei)
    assert [b.name for b in container.list_blobs()] == ["p/1"]

    # a blob SAS can name the container's policy too
    bsas = blob_sas(container.container_name, "p/1", None, policy_id="readlist", expiry=None)
    assert sas_blob(account_url, container.container_name, "p/1", bsas).download_blob().readall() == b"policy"


@pytest.mark.azurite_lacks(AUTH_FAILED)
def test_stored_access_policy_revoked_or_unknown(account_url, container):
    container.set_container_access_policy(signed_identifiers={
        "pol": AccessPolicy(permission="r", expiry=utcnow() + HOUR),
        "past": AccessPolicy(permission="r", expiry=utcnow() - HOUR, start=utcnow() - 2 * HOUR),
    })
    container.upload_blob("b", b"b")
    cname = container.container_name
    good = sas_blob(account_url, cname, "b", container_sas(cname, policy_id="pol"))
    assert good.download_blob().readall() == b"b"

    with pytest.raises(ClientAuthenticationError) as ei:
        sas_blob(account_url, cname, "b", container_sas(cname, policy_id="past")).download_blob()
    assert_authentication_failed(ei)

    with pytest.raises(ClientAuthenticationError) as ei:
        sas_blob(account_url, cname, "b", container_sas(cname, policy_id="nosuchpolicy")).download_blob()
    assert_authentication_failed(ei)

    container.set_container_access_policy(signed_identifiers={})
    assert container.get_container_access_policy()["signed_identifiers"] == []
    with pytest.raises(ClientAuthenticationError) as ei:
        good.download_blob()
    assert_authentication_failed(ei)


# ------------------------------------------------------------------------------------------
# Older signed versions (string-to-sign layouts), made by hand


@pytest.mark.parametrize("sv", [
    pytest.param("2014-02-14", marks=pytest.mark.azurite_lacks("SAS layouts before 2015-04-05")),
    "2015-04-05", "2018-11-09", "2020-12-06",
])
@pytest.mark.parametrize("sr", ["b", "c"])
def test_hand_made_sas_versions(account_url, container, sv, sr):
    cname = container.container_name
    container.upload_blob("legacy/blob.txt", b"legacy")
    se = (utcnow() + HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = {"sip": "127.0.0.1", "spr": "https,http"} if sv >= "2015-04-05" else {}
    canon = f"{cname}/legacy/blob.txt" if sr == "b" else cname
    token, _ = service_sas(sv=sv, sr=sr, sp="r", canon_path=canon, se=se, **extra)
    url = f"{account_url}/{cname}/legacy/blob.txt?{token}"
    # through the SDK (which sends its own x-ms-version) ...
    assert BlobClient.from_blob_url(url, **CLIENT_KWARGS).download_blob().readall() == b"legacy"
    # ... and raw, with the request version equal to the signed version
    r = raw_request("GET", url, version=sv)
    assert r.status_code == 200 and r.content == b"legacy", r.text


@pytest.mark.parametrize("sv", [
    pytest.param("2014-02-14", marks=pytest.mark.azurite_lacks("SAS layouts before 2015-04-05")),
    pytest.param("2015-04-05", marks=pytest.mark.azurite_lacks(AUTH_FAILED)),
    pytest.param("2020-12-06", marks=pytest.mark.azurite_lacks(AUTH_FAILED)),
])
def test_hand_made_sas_with_wrong_layout_is_refused(account_url, container, sv):
    """A token signed with the /blob-prefixed canonical resource but labelled 2014-02-14 (or the
    reverse) must not verify: the server has to pick the layout from sv."""
    cname = container.container_name
    container.upload_blob("x", b"x")
    se = (utcnow() + HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    signed_as = "2015-04-05" if sv == "2014-02-14" else "2014-02-14"
    token, _ = service_sas(sv=signed_as, sr="b", sp="r", canon_path=f"{cname}/x", se=se)
    token = sas_replace(token, "sv", sv)
    r = raw_request("GET", f"{account_url}/{cname}/x?{token}")
    assert_azure_error(r, 403, "AuthenticationFailed")
