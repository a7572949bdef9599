"""Faults injected through vaultsim's /_sim/faults, as the official SDK sees them: a
ServerBusy is Azure's 503 with its XML error, which the SDK's retry policy retries."""

import json
import re
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, LinearRetry

from interop_util import ACCOUNT_KEY, CLIENT_KWARGS, unique

START_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def sim(server, target):
    """A requests session holding the bootstrap admin's token, and the management API's URL."""
    if target != "vaultsim":
        pytest.skip("/_sim/faults is vaultsim's")
    pattern = re.compile(r"management API listening\b.*?\baddr=(127\.0\.0\.1:\d+)")
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        found = next((m for m in map(pattern.search, list(server.lines)) if m), None)
        if found:
            break
        assert time.monotonic() < deadline, "no 'management API listening' line"
        time.sleep(0.1)
    base = f"http://{found[1]}"
    creds = json.loads((server.data_dir / "credentials.json").read_text())
    token = requests.post(
        f"{base}/{creds['tenantId']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds["clientId"],
            "client_secret": creds["clientSecret"],
            "scope": "https://management.core.windows.net//.default",
        },
        timeout=10,
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    yield session, base
    session.delete(f"{base}/_sim/faults", timeout=10)


def add_fault(sim, body):
    session, base = sim
    added = session.post(f"{base}/_sim/faults", json=body, timeout=10)
    assert added.status_code == 201, added.text
    return added.json()


def faults(sim):
    session, base = sim
    return session.get(f"{base}/_sim/faults", timeout=10).json()["value"]


def server_busy_once(container, blob):
    return {
        "scope": "blob",
        "match": {"operation": "SnapshotBlob", "container": container, "blob": blob},
        "action": {"type": "error", "status": 503, "code": "ServerBusy"},
        "count": 1,
    }


@pytest.fixture
def page_blob(account_url):
    """A client without retries and a fresh 4 KiB page blob."""
    service = BlobServiceClient(account_url, credential=ACCOUNT_KEY, **CLIENT_KWARGS)
    container = service.create_container(unique())
    blob = container.get_blob_client("disk.vhd")
    blob.create_page_blob(4096)
    return container.container_name, blob.blob_name


def test_server_busy_is_the_sdks_retryable_503(sim, page_blob, account_url):
    container, name = page_blob
    add_fault(sim, server_busy_once(container, name))
    service = BlobServiceClient(account_url, credential=ACCOUNT_KEY, **CLIENT_KWARGS)
    with pytest.raises(HttpResponseError) as raised:
        service.get_blob_client(container, name).create_snapshot()
    assert raised.value.status_code == 503
    assert raised.value.error_code == "ServerBusy"
    assert "The server is busy." in raised.value.message
    assert faults(sim) == [], "the fault's one hit is used"


def test_a_one_hit_server_busy_is_retried_through(sim, page_blob, account_url):
    container, name = page_blob
    add_fault(sim, server_busy_once(container, name))
    retrying = BlobServiceClient(
        account_url,
        credential=ACCOUNT_KEY,
        retry_policy=LinearRetry(backoff=0.2, random_jitter_range=0.1, retry_total=3),
        connection_timeout=10,
        read_timeout=60,
    )
    snapshot = retrying.get_blob_client(container, name).create_snapshot()
    assert snapshot["snapshot"]
    assert faults(sim) == [], "the first try was refused, the retry succeeded"
