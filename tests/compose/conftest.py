"""Fixtures for the compose checks: the compose file as compose reads it, and the
environment it describes, run without Docker (environment.py).

Environment:
  VAULTSIM_BIN                the service binary (default <repo>/target/debug/vaultsim); the
                              image's other binaries are taken from the same directory
  VAULTSIM_TEST_POSTGRES_URL  the PostgreSQL server that plays the postgres service
                              (default postgres://postgres@127.0.0.1:5432/postgres)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compose_file import read_compose  # noqa: E402
from environment import ComposeEnvironment  # noqa: E402

REPO = HERE.parents[1]
COMPOSE_FILE = REPO / "docker" / "compose.yaml"
# The directory the repository ships for the host's view of the environment.
SHIPPED_HOST_DIR = REPO / "docker" / "vaultsim-compose"
UP_TIMEOUT_S = 60
TOOLS = ["ip", "nsenter", "unshare", "chroot", "psql"]


@pytest.fixture(scope="session")
def compose_environment(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("running the compose services needs root (network and mount namespaces)")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)}")
    binaries = Path(os.environ.get("VAULTSIM_BIN") or REPO / "target" / "debug" / "vaultsim").parent
    run_dir = tmp_path_factory.mktemp("compose")
    # The host directory as a clone of the repository has it (owned by its user, who is
    # the image's by default), somewhere of this run's instead of in the work tree.
    host_dir = run_dir / "vaultsim-compose"
    variables = {**os.environ, "VAULTSIM_COMPOSE_DIR": str(host_dir)}
    services = read_compose(COMPOSE_FILE, variables)
    image_user = next(s.image.user for s in services.values() if s.image is not None)
    for shipped in [SHIPPED_HOST_DIR, *(p for p in SHIPPED_HOST_DIR.rglob("*") if p.is_dir())]:
        made = host_dir / shipped.relative_to(SHIPPED_HOST_DIR)
        made.mkdir(parents=True, exist_ok=True)
        os.chown(made, *image_user)
    environment = ComposeEnvironment(
        services=services,
        run_dir=run_dir,
        host_dir=host_dir,
        binaries=binaries,
        repo=REPO,
        postgres_url=os.environ.get("VAULTSIM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    try:
        environment.up(timeout=UP_TIMEOUT_S)
        yield environment
    finally:
        environment.down()
