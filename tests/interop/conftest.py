"""Fixtures: start the blob endpoint under test (vaultsim by default, Azurite with
INTEROP_TARGET=azurite) once per session, and hand out SDK clients bound to it.

Environment:
  INTEROP_TARGET  vaultsim (default) | azurite
  VAULTSIM_BIN    path of the vaultsim binary (default <repo>/target/debug/vaultsim)
  AZURITE_BLOB    path of azurite-blob (default: /tmp/azurite/node_modules/.bin/azurite-blob, then PATH)
  INTEROP_RUN_AZURITE_LACKS=1   do not skip the tests marked azurite_lacks on Azurite
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from interop_util import ACCOUNT, ACCOUNT_KEY, CLIENT_KWARGS, TARGET, unique  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
if TARGET not in ("vaultsim", "azurite"):
    raise pytest.UsageError(f"INTEROP_TARGET must be 'vaultsim' or 'azurite', not {TARGET!r}")

LISTEN_RE = re.compile(r"blob endpoint listening\b.*?\baddr=127\.0\.0\.1:(\d+)")
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10

_SERVER: "ServerProcess | None" = None


class ServerProcess:
    """A child process whose combined stdout/stderr is drained by a thread into a ring buffer."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.argv = argv
        self.port: int | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=5000)
        self._ready = threading.Event()
        self._log_file = open(log_path, "w", encoding="utf-8")
        self.log_path = log_path
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._drain, name=f"{name}-log", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = ANSI_RE.sub("", raw.decode("utf-8", "replace")).rstrip("\r\n")
            self.lines.append(line)
            self._log_file.write(line + "\n")
            self._log_file.flush()
            if self.port is None:
                m = LISTEN_RE.search(line)
                if m:
                    self.port = int(m.group(1))
                    self._ready.set()
        self._ready.set()  # EOF: wake up a waiter so it can see the exit

    def wait_for_port_in_log(self, timeout: float) -> int:
        self._ready.wait(timeout)
        if self.port is None:
            code = self.proc.poll()
            state = f"exited with code {code}" if code is not None else f"printed no listening line in {timeout:.0f} s"
            self.kill()
            startup_failed(
                f"{self.name} {state}; expected a log line matching {LISTEN_RE.pattern!r}.\n"
                f"command: {' '.join(self.argv)}\nlog tail:\n{self.tail(80)}"
            )
        return self.port

    def wait_for_tcp(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                self.port = port
                return
            except OSError:
                time.sleep(0.1)
        code = self.proc.poll()
        self.kill()
        startup_failed(f"{self.name} is not accepting connections on port {port} (exit code {code}).\n"
                       f"log tail:\n{self.tail(80)}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 60) -> str:
        lines = list(self.lines)[-n:]
        return "\n".join(lines) if lines else "(no output)"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> tuple[bool, int | None]:
        """SIGTERM, then wait up to STOP_TIMEOUT_S. Returns (exited_in_time, returncode)."""
        if self.proc.poll() is not None:
            return True, self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
            ok = True
        except subprocess.TimeoutExpired:
            ok = False
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        self._log_file.close()
        return ok, self.proc.returncode


def startup_failed(message: str):
    """The server under test could not be started: stop the whole run (non-zero exit) with one
    clear message instead of one error per test."""
    pytest.exit(f"interop: cannot start the blob endpoint under test\n{message}", returncode=3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_vaultsim(tmp: Path) -> ServerProcess:
    binary = Path(os.environ.get("VAULTSIM_BIN") or REPO / "target" / "debug" / "vaultsim")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        startup_failed(f"vaultsim binary not found at {binary}; run `cargo build -p vaultsim` (or set VAULTSIM_BIN)")
    data_dir = tmp / "data"
    data_dir.mkdir()
    # The server gets VAULTSIM_* variables and nothing else.
    env = {k: v for k, v in os.environ.items() if k.startswith("VAULTSIM_")}
    argv = [str(binary), "serve", "--data-dir", str(data_dir), "--blob-addr", "127.0.0.1:0",
            "--http-addr", "127.0.0.1:0", "--guest-addr", "127.0.0.1:0",
            "--https-addr", "127.0.0.1:0", "--blob-https-addr", "127.0.0.1:0"]
    srv = ServerProcess("vaultsim", argv, env, tmp / "vaultsim.log")
    srv.wait_for_port_in_log(START_TIMEOUT_S)
    srv.data_dir = data_dir
    return srv


def _start_azurite(tmp: Path) -> ServerProcess:
    exe = os.environ.get("AZURITE_BLOB")
    if not exe:
        default = Path("/tmp/azurite/node_modules/.bin/azurite-blob")
        exe = str(default) if default.exists() else shutil.which("azurite-blob")
    if not exe:
        startup_failed("azurite-blob not found: `npm install --prefix /tmp/azurite azurite` or set AZURITE_BLOB")
    port = _free_port()
    location = tmp / "azurite"
    location.mkdir()
    argv = [exe, "--skipApiVersionCheck", "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--location", str(location), "--silent", "--disableTelemetry"]
    srv = ServerProcess("azurite", argv, dict(os.environ), tmp / "azurite.log")
    srv.wait_for_tcp(port, START_TIMEOUT_S)
    return srv


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    global _SERVER
    tmp = tmp_path_factory.mktemp("blob-server")
    srv = _start_vaultsim(tmp) if TARGET == "vaultsim" else _start_azurite(tmp)
    _SERVER = srv
    yield srv
    ok, code = srv.stop()
    if not ok:
        pytest.fail(f"{srv.name} did not exit within {STOP_TIMEOUT_S} s of SIGTERM (killed).\n"
                    f"log tail:\n{srv.tail(40)}", pytrace=False)


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    """After each test: the server must not have died (a crash is reported on the test that caused it)."""
    yield
    if _SERVER is not None and "server" in request.fixturenames and not _SERVER.alive():
        pytest.fail(f"{_SERVER.name} exited during this test with code {_SERVER.proc.returncode}.\n"
                    f"log tail:\n{_SERVER.tail(60)}", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _SERVER is not None:
        rep.sections.append((f"{_SERVER.name} log (last 40 lines; full log {_SERVER.log_path})", _SERVER.tail(40)))


def pytest_collection_modifyitems(config, items):
    # INTEROP_RUN_AZURITE_LACKS=1 runs them anyway (to see that they do fail there).
    if TARGET != "azurite" or os.environ.get("INTEROP_RUN_AZURITE_LACKS") == "1":
        return
    for item in items:
        marker = item.get_closest_marker("azurite_lacks")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"Azurite lacks: {reason}"))


def pytest_report_header(config):
    return [f"interop target: {TARGET}"]


# ------------------------------------------------------------------------------------------
# Endpoint and clients


@pytest.fixture(scope="session")
def target() -> str:
    return TARGET


@pytest.fixture(scope="session")
def port(server) -> int:
    return server.port


@pytest.fixture(scope="session")
def account_url(port) -> str:
    """Path-style account URL, as the SDK builds it from BlobEndpoint."""
    return f"http://127.0.0.1:{port}/{ACCOUNT}"


@pytest.fixture(scope="session")
def https_endpoint(server, target):
    """vaultsim's HTTPS account URL and the CA file that verifies it (Azurite here runs
    without TLS)."""
    if target != "vaultsim":
        pytest.skip("the HTTPS listener is vaultsim's")
    pattern = re.compile(r"blob endpoint over HTTPS listening\b.*?\baddr=127\.0\.0\.1:(\d+)")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = next((m for m in map(pattern.search, list(server.lines)) if m), None)
        if found:
            return f"https://127.0.0.1:{found[1]}/{ACCOUNT}", str(server.data_dir / "tls" / "ca.pem")
        time.sleep(0.1)
    pytest.fail(f"no HTTPS listening line in the log:\n{server.tail(40)}")


@pytest.fixture(scope="session")
def conn_str(account_url) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={account_url};")


@pytest.fixture(scope="session")
def service(conn_str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(conn_str, **CLIENT_KWARGS)


@pytest.fixture(scope="session")
def make_service(conn_str):
    """Build a BlobServiceClient with extra SDK options (e.g. max_single_put_size)."""

    def make(**kwargs) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(conn_str, **{**CLIENT_KWARGS, **kwargs})

    return make


@pytest.fixture
def container(service):
    """A fresh container (ContainerClient), deleted after the test."""
    cc = service.get_container_client(unique("it"))
    cc.create_container()
    yield cc
    try:
        cc.delete_container()
    except Exception:  # noqa: BLE001 - cleanup must not mask the test result
        pass
