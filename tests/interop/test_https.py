"""The blob endpoint over HTTPS with the official SDK: the generated chain verifies, page
blobs work as over HTTP, and a SAS signed `spr=https` is honoured over TLS and refused in
clear text, as Azure Storage does."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from interop_util import ACCOUNT, ACCOUNT_KEY, CLIENT_KWARGS, unique


def test_page_blobs_and_diffs_work_over_https(https_endpoint):
    url, ca = https_endpoint
    svc = BlobServiceClient(url, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                            connection_verify=ca, **CLIENT_KWARGS)
    disk = svc.create_container(unique()).get_blob_client("disk.vhd")
    disk.create_page_blob(size=1 << 20)
    disk.upload_page(b"\x07" * 512, offset=4096, length=512)
    snap = disk.create_snapshot()
    disk.clear_page(offset=4096, length=512)
    changed, cleared = disk.get_page_ranges(previous_snapshot_diff=snap)
    assert (changed, cleared) == ([], [{"start": 4096, "end": 4607}])
    assert BlobClient.from_blob_url(disk.url, snapshot=snap["snapshot"],
                                    credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                                    connection_verify=ca).download_blob(offset=4096, length=512).readall() == b"\x07" * 512


def test_an_https_only_sas_is_refused_over_http(https_endpoint, account_url):
    url, ca = https_endpoint
    container = unique()
    svc = BlobServiceClient(url, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                            connection_verify=ca, **CLIENT_KWARGS)
    svc.create_container(container).upload_blob("status", b"{}")
    sas = generate_blob_sas(ACCOUNT, container, "status", account_key=ACCOUNT_KEY,
                            permission=BlobSasPermissions(read=True), protocol="https",
                            expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    assert "spr=https" in sas
    over_tls = BlobClient.from_blob_url(f"{url}/{container}/status?{sas}", connection_verify=ca, **CLIENT_KWARGS)
    assert over_tls.download_blob().readall() == b"{}"
    in_clear = BlobClient.from_blob_url(f"{account_url}/{container}/status?{sas}", **CLIENT_KWARGS)
    with pytest.raises(HttpResponseError) as refused:
        in_clear.download_blob().readall()
    assert refused.value.status_code == 403
    assert refused.value.error_code == "AuthorizationProtocolMismatch"


def test_listings_over_https_name_an_https_service_endpoint(https_endpoint):
    url, ca = https_endpoint
    container = unique()
    svc = BlobServiceClient(url, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                            connection_verify=ca, **CLIENT_KWARGS)
    svc.create_container(container)
    sas = generate_container_sas(ACCOUNT, container, account_key=ACCOUNT_KEY,
                                 permission=ContainerSasPermissions(list=True),
                                 expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace `verify`
    listed = session.get(f"{url}/{container}?restype=container&comp=list&{sas}", verify=ca,
                         headers={"x-ms-version": "2025-11-05"}, timeout=30)
    assert listed.status_code == 200, listed.text
    endpoint = ET.fromstring(listed.content).get("ServiceEndpoint")
    assert endpoint == f"{url}/", endpoint
