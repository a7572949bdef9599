"""The Docker build context (the repository root, filtered by .dockerignore) holds what the
image is built from and nothing a local run leaves behind. Matched by docker-py's
implementation of Docker's .dockerignore rules, over a copy of the repository's tracked
files plus what a working tree also has: a build, venvs, node_modules, data directories."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from docker.utils.build import exclude_paths

from compose_file import read_compose
from conftest import COMPOSE_FILE, REPO

# What a used working tree has beside its tracked files: none of it may reach the context.
# The data directories hold the bootstrap credentials and the CA's and token signer's keys.
LOCAL_FILES = [
    "target/release/vaultsim",
    "target/debug/build/x/out/y.rs",
    ".git/config",
    ".venv/bin/python",
    ".venv-azure/bin/python",
    "scripts/bench-support/azurite/node_modules/azurite/package.json",
    "node_modules/x/index.js",
    "tests/interop/__pycache__/conftest.cpython-311.pyc",
    "vaultsim-data/credentials.json",
    "vaultsim-data/tls/ca-key.pem",
    "vaultsim-demo-data/credentials.json",
    "agent/vaultsim-data/credentials.json",
    "docker/vaultsim-compose/credentials.json",
    "docker/vaultsim-compose/tls/server-key.pem",
]
NEVER = re.compile(
    r"(^|/)(target|\.git|\.venv[^/]*|node_modules|__pycache__|vaultsim-data|vaultsim-demo-data|vaultsim-compose)(/|$)"
)


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [p for p in listed.stdout.decode().split("\0") if p and (REPO / p).is_file()]


def _cargo_targets(manifest: Path) -> dict[tuple[str, str], str]:
    """(package, target) -> its source path relative to the workspace, for what a build of
    the binaries compiles or cargo requires to exist (libraries, binaries, declared benches)."""
    metadata = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--offline", "--format-version", "1", "--manifest-path", str(manifest)],
        capture_output=True,
        text=True,
        check=True,
    )
    root = manifest.parent
    targets = {}
    for package in json.loads(metadata.stdout)["packages"]:
        for target in package["targets"]:
            if set(target["kind"]) & {"lib", "bin", "bench"}:
                targets[(package["name"], target["name"])] = str(Path(target["src_path"]).relative_to(root))
    return targets


def test_the_build_context_holds_the_sources_and_no_local_state(tmp_path):
    tree = tmp_path / "tree"
    tracked = _tracked_files()
    for path in tracked:
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / path, tree / path)
    for path in LOCAL_FILES:
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text("local state")
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = {p for p in exclude_paths(str(tree), patterns, dockerfile="docker/Dockerfile") if (tree / p).is_file()}

    leaked = sorted(p for p in context if NEVER.search(p))
    assert leaked == []

    # The image's files from the context are there.
    services = read_compose(COMPOSE_FILE, {})
    image = next(s.image for s in services.values() if s.image is not None)
    copied = {source for origin, source in image.files.values() if origin == "context"}
    assert copied <= context, copied - context

    # cargo reads the same workspace from the context: every library, binary and bench, and
    # every tracked file of the crates' source directories; the lock file (--locked) and
    # what the sources read at compile time (sqlx::migrate!'s directory).
    copy = tmp_path / "context"
    for path in context:
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tree / path, copy / path)
    expected = _cargo_targets(REPO / "Cargo.toml")
    assert _cargo_targets(copy / "Cargo.toml") == expected
    source_dirs = {str(Path(src).parent) for src in expected.values()}
    missing = sorted(
        p for p in tracked if any(p.startswith(d + "/") for d in source_dirs) and p not in context
    )
    assert missing == []
    assert "Cargo.lock" in context
    crate_dirs = [str(Path(p).parent) for p in tracked if Path(p).name == "Cargo.toml"]
    for path in (p for p in tracked if p.endswith(".rs") and p in context):
        crate = max((d for d in crate_dirs if d == "." or path.startswith(d + "/")), key=len)
        prefix = "" if crate == "." else crate + "/"
        for directory in re.findall(r'migrate!\("\./([^"]+)"\)', (REPO / path).read_text()):
            wanted = {p for p in tracked if p.startswith(f"{prefix}{directory}/")}
            assert wanted and wanted <= context, f"{path} reads {directory}/ at compile time"
