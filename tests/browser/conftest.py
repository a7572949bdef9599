"""Fixtures for the browser suite: `vaultsim serve` on ports picked by the system with a data
directory of its own, one VM played by `vaultsim-agent run`, a Recovery Services vault to
protect it in, and Debian's Chromium driven by Playwright (Playwright's own browser build
is never downloaded). As tests/azure/conftest.py starts the service, so does this one.

Every page a test opens records its console errors and uncaught exceptions; a test fails
when its page logged any (besides those it declares it expects).

Environment:
  VAULTSIM_BIN        the service binary (default <repo>/target/debug/vaultsim)
  VAULTSIM_AGENT_BIN  the agent binary (default next to the service binary)
  CHROMIUM_BIN        the browser (default /usr/bin/chromium)
  KEEP_LOGS           keep the service's data directory and logs
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "support"))
from vaultsim_processes import Process, built_binary  # noqa: E402

ARTIFACTS = REPO / "target" / "browser-artifacts"
GROUP = "rg-browser"
VM = "vm-browser"
VAULT = "vault-browser"
LOCATION = "eastus"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Service:
    """`vaultsim serve` on ports 0, its bootstrap credentials, and an ARM client for setup."""

    def __init__(self, root: Path, *flags: str):
        self.root = root
        self.data_dir = root / "data"
        binary = built_binary("VAULTSIM_BIN", REPO / "target" / "debug" / "vaultsim")
        self.agent_binary = built_binary("VAULTSIM_AGENT_BIN", binary.parent / "vaultsim-agent")
        argv = [str(binary), "serve", "--data-dir", str(self.data_dir), *flags]
        for flag in ("--http-addr", "--https-addr", "--blob-addr", "--blob-https-addr", "--guest-addr"):
            argv += [flag, "127.0.0.1:0"]
        env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "info", "NO_COLOR": "1"}
        self.process = Process("vaultsim", argv, env, root / "vaultsim.log")
        addr = r"addr=(127\.0\.0\.1:\d+)"
        self.https = "https://" + self.process.wait_for(r"management API over HTTPS listening " + addr)[1]
        self.http = "http://" + self.process.wait_for(r"management API listening " + addr)[1]
        self.guest = "http://" + self.process.wait_for(r"guest API listening " + addr)[1]
        self.ca_file = self.data_dir / "tls" / "ca.pem"
        self.credentials_file = self.data_dir / "credentials.json"
        self.credentials = json.loads(self.credentials_file.read_text())
        self.agents: list[Process] = []
        self._token = self._get_token()

    def _get_token(self) -> str:
        creds = self.credentials
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": creds["clientId"],
            "client_secret": creds["clientSecret"], "scope": "https://management.core.windows.net//.default",
        }).encode()
        with urllib.request.urlopen(f"{self.http}/{creds['tenantId']}/oauth2/v2.0/token", form) as response:
            return json.load(response)["access_token"]

    def arm(self, method: str, path: str, body: dict | None = None, api_version: str = "2023-04-01"):
        """An ARM request over HTTP as the bootstrap admin; its JSON answer."""
        request = urllib.request.Request(
            f"{self.http}{path}?api-version={api_version}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            text = response.read()
        return json.loads(text) if text else None

    @property
    def subscription(self) -> str:
        return self.credentials["subscriptionId"]

    def group_id(self, group: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{group}"

    def start_vm(self, group: str, vm: str) -> Process:
        """Runs `vaultsim-agent run` as the VM `vm` (created by its registration) and waits
        until it polls its goal state."""
        state = self.root / f"agent-{group}-{vm}"
        vm_id = f"{self.group_id(group)}/providers/Microsoft.Compute/virtualMachines/{vm}"
        argv = [str(self.agent_binary), "run", "--service", self.guest, "--management-url", self.http,
                "--credentials", str(self.credentials_file), "--state-dir", str(state),
                "--vm", vm_id, "--location", LOCATION, "--data-disk-gib", "1", "--start-delay-ms", "0"]
        env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "info", "NO_COLOR": "1",
               "SSL_CERT_FILE": str(self.ca_file)}
        agent = Process(f"agent {vm}", argv, env, self.root / f"agent-{vm}.log")
        agent.wait_for(r"VM registered")
        self.agents.append(agent)
        return agent

    def https_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()
        self.process.stop()


@pytest.fixture(scope="session")
def service():
    """The service with the resource group, the VM and the vault the scenario works on."""
    root = Path(tempfile.mkdtemp(prefix="vaultsim-browser-"))
    svc = Service(root)
    try:
        svc.arm("PUT", svc.group_id(GROUP), {"location": LOCATION}, api_version="2021-04-01")
        svc.start_vm(GROUP, VM)
        svc.arm("PUT", f"{svc.group_id(GROUP)}/providers/Microsoft.RecoveryServices/vaults/{VAULT}",
                {"location": LOCATION, "sku": {"name": "Standard"}, "properties": {}})
        yield svc
    finally:
        _stop(svc, root)


@pytest.fixture(scope="session")
def open_service():
    """A second service, started with `--no-auth`: nothing to sign in to."""
    root = Path(tempfile.mkdtemp(prefix="vaultsim-browser-no-auth-"))
    svc = Service(root, "--no-auth")
    try:
        yield svc
    finally:
        _stop(svc, root)


def _stop(svc: Service, root: Path) -> None:
    svc.stop()
    if os.environ.get("KEEP_LOGS"):
        print(f"logs in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    executable = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    if not os.access(executable, os.X_OK):
        pytest.exit(f"{executable} not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM_BIN", 2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class PageProblems:
    """What a page logged as an error: console messages of type error and uncaught exceptions."""

    def __init__(self, page):
        self.messages: list[str] = []
        self.expected: list[re.Pattern] = []
        page.on("console", lambda message: message.type == "error" and self.messages.append(
            f"console: {message.text} ({message.location.get('url', '')})"))
        page.on("pageerror", lambda error: self.messages.append(f"page error: {error}"))

    def expect(self, pattern: str) -> None:
        """Declares an error the test provokes on purpose."""
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [m for m in self.messages if not any(p.search(m) for p in self.expected)]


def open_page(browser, request, **context_options):
    """A page in a fresh context (its own sessionStorage) whose errors fail the test."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = PageProblems(page)
    request.addfinalizer(context.close)
    request.addfinalizer(lambda: _assert_no_problems(problems))
    return page, problems


def _assert_no_problems(problems: PageProblems) -> None:
    unexpected = problems.unexpected()
    assert not unexpected, "the page logged errors:\n" + "\n".join(unexpected)


@pytest.fixture
def page(browser, request):
    page, _ = open_page(browser, request, viewport={"width": 1280, "height": 900})
    return page


@pytest.fixture
def problems_and_page(browser, request):
    page, problems = open_page(browser, request, viewport={"width": 1280, "height": 900})
    return problems, page


def screenshot(page, name: str) -> Path:
    """Saves a full-page screenshot as a CI artifact."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
