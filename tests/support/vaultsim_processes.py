"""The child processes the Python suites start (`vaultsim serve`, `vaultsim-agent run`):
their binaries, and their output drained into a log file and searched for lines. Shared by
tests/azure and tests/browser, each of which puts this directory on `sys.path`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

START_TIMEOUT_S = 60
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def built_binary(variable: str, default: Path) -> Path:
    path = Path(os.environ.get(variable) or default)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(f"{path} not found: build it first (cargo build -p vaultsim -p vaultsim-agent) or set {variable}", 2)
    return path


class Process:
    """A child whose output is drained into a log file and searched for lines."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._log = open(log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = ANSI_RE.sub("", raw.decode("utf-8", "replace")).rstrip("\n")
            self._log.write(line + "\n")
            self._log.flush()
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if m := regex.search(line):
                        return m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    tail = "\n".join(self.lines[-60:])
                    raise AssertionError(f"{self.name}: no line matching {pattern!r} "
                                         f"(exit code {self.proc.poll()})\n{tail}")
                self._changed.wait(min(left, 0.5))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # The last lines may still be in the pipe: the log closes once they are written.
        self._drainer.join(10)
        self._log.close()
