"""HTTPS as strict clients check it: the generated chain passes Python's strict X.509
verification and `openssl verify -x509_strict`, and a client that came in over HTTPS (or
through a proxy that says so) never gets an `http://` URL back, in any header or body of
the sign-in and backup flow."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path

import requests

API = "api-version=2026-07-01"


def test_the_chain_passes_strict_python_verification(service):
    context = ssl.create_default_context(cafile=str(service.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # what Python 3.13 turns on by default
    for url in (service.https, service.blob_https):
        host, port = url.removeprefix("https://").split(":")
        for name in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, int(port))) as raw:
                with context.wrap_socket(raw, server_hostname=name) as tls:
                    assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_the_chain_passes_openssl_x509_strict(service):
    host, port = service.https.removeprefix("https://").split(":")
    shown = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-showcerts"],
                           input="", capture_output=True, text=True, timeout=30).stdout
    leaf = shown[shown.index("-----BEGIN CERTIFICATE-----"):shown.index("-----END CERTIFICATE-----") + 25]
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(leaf + "\n")
        f.flush()
        verified = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(service.ca_file), f.name],
                                  capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def flow(base: str, verify, extra_headers: dict[str, str], service) -> list[requests.Response]:
    """The requests of a sign-in and a few management calls, as az makes them."""
    creds = service.credentials
    session = requests.Session()
    # Only what this test says: REQUESTS_CA_BUNDLE in the environment would replace `verify`.
    session.trust_env = False
    session.verify = verify
    session.headers.update(extra_headers)
    responses = [session.get(f"{base}//metadata/endpoints?api-version=2022-09-01")]
    responses.append(session.get(f"{base}/adfs/.well-known/openid-configuration"))
    responses.append(session.get(f"{base}/{creds['tenantId']}/v2.0/.well-known/openid-configuration"))
    token = session.post(f"{base}/adfs/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": creds["clientId"],
        "client_secret": creds["clientSecret"], "scope": "https://management.core.windows.net//.default"})
    responses.append(token)
    session.headers["Authorization"] = "Bearer " + token.json()["access_token"]
    sub = f"/subscriptions/{service.subscription}"
    group = f"{sub}/resourceGroups/httpsrg"
    vault = f"{group}/providers/Microsoft.RecoveryServices/vaults/httpsvault"
    responses.append(session.get(f"{base}/subscriptions?api-version=2022-12-01"))
    responses.append(session.put(f"{base}{group}?api-version=2024-11-01", json={"location": "eastus"}))
    responses.append(session.put(f"{base}{vault}?{API}", json={"location": "eastus", "sku": {"name": "Standard"}, "properties": {}}))
    responses.append(session.get(f"{base}{vault}/backupPolicies?{API}"))
    responses.append(session.post(f"{base}{vault}/backupFabrics/Azure/refreshContainers?{API}"))
    responses.append(session.get(f"{base}{vault}/backupJobs?{API}&$top=1"))
    responses.append(session.delete(f"{base}{vault}?{API}"))
    return responses


def assert_no_plain_http(responses: list[requests.Response]) -> None:
    for response in responses:
        assert response.status_code < 500, (response.url, response.status_code, response.text)
        for name, value in response.headers.items():
            assert "http://" not in value, (response.url, name, value)
        assert "http://" not in response.text, (response.url, response.text)
    # The flow did hand out URLs, all of them https.
    everything = " ".join(r.text + json.dumps(dict(r.headers)) for r in responses)
    assert "https://" in everything


def test_a_client_over_https_gets_only_https_urls(service):
    responses = flow(service.https, str(service.ca_file), {}, service)
    assert responses[0].json()["authentication"]["loginEndpoint"] == service.https + "/adfs"
    assert_no_plain_http(responses)


def test_a_client_behind_a_tls_proxy_gets_only_https_urls(service):
    front = "vaultsim.example:443"
    responses = flow(service.http, True, {"X-Forwarded-Proto": "https", "X-Forwarded-Host": front}, service)
    assert responses[0].json()["authentication"]["loginEndpoint"] == f"https://{front}/adfs"
    assert_no_plain_http(responses)
