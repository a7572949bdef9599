"""Fixtures for the real-client suite: `vaultsim serve` with HTTPS on every port picked by
the system, VMs played by `vaultsim-agent run`, and `az` (azure-cli from PyPI) signed in to
it as a user would, with nothing but `REQUESTS_CA_BUNDLE` and a config directory of its
own.

Environment:
  VAULTSIM_BIN        the service binary (default <repo>/target/debug/vaultsim)
  VAULTSIM_AGENT_BIN  the agent binary (default next to the service binary)
  AZ_BIN              the az command (default: `az` next to this venv's python)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "support"))
from vaultsim_processes import Process, built_binary  # noqa: E402


class Service:
    """`vaultsim serve` on ports 0: its HTTPS URLs, its CA and its bootstrap credentials."""

    def __init__(self, root: Path):
        self.root = root
        self.data_dir = root / "data"
        binary = built_binary("VAULTSIM_BIN", REPO / "target" / "debug" / "vaultsim")
        self.agent_binary = built_binary("VAULTSIM_AGENT_BIN", binary.parent / "vaultsim-agent")
        argv = [str(binary), "serve", "--data-dir", str(self.data_dir)]
        for flag in ("--http-addr", "--https-addr", "--blob-addr", "--blob-https-addr", "--guest-addr"):
            argv += [flag, "127.0.0.1:0"]
        env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "info", "NO_COLOR": "1"}
        self.process = Process("vaultsim", argv, env, root / "vaultsim.log")
        addr = r"addr=(127\.0\.0\.1:\d+)"
        self.https = "https://" + self.process.wait_for(r"management API over HTTPS listening " + addr)[1]
        self.http = "http://" + self.process.wait_for(r"management API listening " + addr)[1]
        self.blob_https = "https://" + self.process.wait_for(r"blob endpoint over HTTPS listening " + addr)[1]
        self.guest = "http://" + self.process.wait_for(r"guest API listening " + addr)[1]
        self.ca_file = self.data_dir / "tls" / "ca.pem"
        self.credentials_file = self.data_dir / "credentials.json"
        self.credentials = json.loads(self.credentials_file.read_text())
        self.agents: list[Process] = []

    @property
    def subscription(self) -> str:
        return self.credentials["subscriptionId"]

    def vm_id(self, group: str, vm: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{vm}"

    def start_vm(self, group: str, vm: str, location: str = "eastus") -> Process:
        """Runs `vaultsim-agent run` as the VM `vm` (created by its registration) and waits
        until it polls its goal state."""
        state = self.root / f"agent-{group}-{vm}"
        argv = [str(self.agent_binary), "run", "--service", self.guest, "--management-url", self.http,
                "--credentials", str(self.credentials_file), "--state-dir", str(state),
                "--vm", self.vm_id(group, vm), "--location", location, "--data-disk-gib", "1",
                "--start-delay-ms", "0"]
        # A VM trusts what its OpenSSL trusts: here, the service's CA.
        env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "info", "NO_COLOR": "1",
               "SSL_CERT_FILE": str(self.ca_file)}
        agent = Process(f"agent {vm}", argv, env, self.root / f"agent-{vm}.log")
        agent.wait_for(r"VM registered")
        self.agents.append(agent)
        return agent

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()
        self.process.stop()


class AzError(AssertionError):
    def __init__(self, args: list[str], result: subprocess.CompletedProcess):
        self.result = result
        super().__init__(f"az {' '.join(args)} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")


class Az:
    """`az` with a configuration directory of its own, trusting the service's CA and
    nothing else set: what a user does after reading the README."""

    def __init__(self, service: Service, config_dir: Path):
        self.service = service
        self.config_dir = config_dir
        default_az = Path(sys.executable).parent / "az"
        self.binary = os.environ.get("AZ_BIN") or (str(default_az) if default_az.exists() else shutil.which("az"))
        if not self.binary:
            pytest.exit("az not found: scripts/test installs azure-cli into .venv-azure", 2)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(config_dir),
            "AZURE_CONFIG_DIR": str(config_dir),
            "REQUESTS_CA_BUNDLE": str(service.ca_file),
            # No background upload attempts (there is no network here); changes nothing else.
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
        }

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        result = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AzError(list(args), result)
        return result

    def json(self, *args: str):
        out = self.run(*args, "-o", "json").stdout
        return json.loads(out) if out.strip() else None

    def fails(self, *args: str) -> str:
        """Runs a command that must fail; answers what it printed on stderr."""
        result = self.run(*args, check=False)
        assert result.returncode != 0, f"az {' '.join(args)} succeeded:\n{result.stdout}"
        return result.stderr

    def sign_in(self) -> None:
        creds = self.service.credentials
        self.run("cloud", "register", "-n", "vaultsim", "--endpoint-resource-manager", self.service.https + "/")
        self.run("cloud", "set", "-n", "vaultsim")
        # `--password=` keeps a secret that starts with '-' from reading as an option.
        self.run("login", "--service-principal", "-u", creds["clientId"],
                 f"--password={creds['clientSecret']}", "--tenant", creds["tenantId"])


@pytest.fixture(scope="session")
def service():
    root = Path(tempfile.mkdtemp(prefix="vaultsim-azure-"))
    svc = Service(root)
    yield svc
    svc.stop()
    if os.environ.get("KEEP_LOGS"):
        print(f"logs in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def az(service, tmp_path_factory):
    """`az` signed in, with a configuration directory of this module's own (MSAL's token
    cache ignores the port, so services must not share one)."""
    cli = Az(service, tmp_path_factory.mktemp("azure-config"))
    cli.sign_in()
    return cli


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"
