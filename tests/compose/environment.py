"""docker/compose.yaml's services run without Docker: each vaultsim service is the
entrypoint, command, environment and user compose gives its container, executed from this
build's target/debug binaries in a container of our own making:

- a network namespace per service (a service with `network_mode: service:X` shares X's),
  joined by a bridge that lives in a namespace of its own, each with an address of a
  private range that exists only inside these namespaces; `/etc/hosts` maps every service
  name to its address, as compose's DNS does;
- a mount namespace per service whose root is a tmpfs holding the machine's /usr, /etc
  (hosts replaced), /dev and /proc, the image's files at their image paths (the binaries
  the Dockerfile copies to /usr/local/bin are this build's, the probe script the
  repository's), and the service's volumes: named volumes are directories of this run,
  bind mounts the host paths compose names;
- published ports are forwarded from a "host" namespace's addresses to the service's, so
  the host's view (127.0.0.1:8443, 127.0.0.1:10443, ...) is the one compose publishes;
- PostgreSQL is this machine's: its service's address forwards to 127.0.0.1:5432, the
  database compose names (POSTGRES_DB) renamed to a fresh one of this run.

Services start as compose starts them: each as soon as what it depends on is started or
healthy by its own healthcheck command (run inside the service's namespaces as Docker runs
it), the others in the meantime, so a missing `depends_on` shows as it would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from compose_file import Service, start_order
from namespaces import Forwarder, inside, ip, rename_database

# Addresses of the bridge inside the run's namespaces (never routed beyond them).
SUBNET = "10.213.7"
POSTGRES_PORT = 5432

# The container's root: /usr, /etc, /dev, /proc of this machine; a fresh /tmp; the
# image's own files and the volumes on top. Runs in the service's new mount namespace,
# then executes the service as its user in its working directory with its environment.
_LAUNCH = r"""
set -euo pipefail
root="$1"; hosts="$2"; user="$3"; workdir="$4"; files="$5"; mounts="$6"; shift 6
mount -t tmpfs -o mode=0755 vaultsim-compose "$root"
for dir in usr etc dev proc sys; do
  mkdir "$root/$dir"; mount --rbind "/$dir" "$root/$dir"
done
for link in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$link" ]; then ln -s "$(readlink "/$link")" "$root/$link";
  elif [ -d "/$link" ]; then mkdir "$root/$link"; mount --rbind "/$link" "$root/$link"; fi
done
mkdir -m 1777 "$root/tmp"
mount --bind "$hosts" "$root/etc/hosts"
mount -t tmpfs -o mode=0755 image-bin "$root/usr/local/bin"
while IFS='|' read -r source target; do
  [ -n "$source" ] || continue
  mkdir -p "$(dirname "$root$target")"; touch "$root$target"; mount --bind "$source" "$root$target"
done <<< "$files"
while IFS='|' read -r source target mode; do
  [ -n "$source" ] || continue
  mkdir -p "$root$target"; mount --bind "$source" "$root$target"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$root$target"; fi
done <<< "$mounts"
exec chroot --userspec="$user" "$root" /usr/bin/env -C "$workdir" "$@"
"""


@dataclass
class Running:
    service: Service
    netns: str
    address: str
    process: subprocess.Popen | None = None
    log: Path | None = None
    started_at: float = 0.0
    healthy: bool | None = None
    health_output: str = ""
    health_failures: int = 0
    next_check: float = 0.0
    # What its healthcheck's environment adds to the service's (see _start_postgres).
    health_env: dict[str, str] = field(default_factory=dict)


@dataclass
class ComposeEnvironment:
    services: dict[str, Service]
    run_dir: Path
    # Where the compose file's bind mounts of the host's directory point (VAULTSIM_COMPOSE_DIR).
    host_dir: Path
    binaries: Path
    repo: Path
    postgres_url: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    running: dict[str, Running] = field(default_factory=dict)
    forwarders: list[Forwarder] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    database: str = ""
    # This machine's own network namespace, where PostgreSQL listens on 127.0.0.1.
    machine_netns: object = None

    # -- the host side -------------------------------------------------------------------
    @property
    def host_netns(self) -> str:
        return f"/run/netns/vsc{self.run_id}-host"

    def on_host(self):
        """Runs the block's network calls as the host would make them (published ports)."""
        return inside(self.host_netns)

    # -- up ------------------------------------------------------------------------------
    def up(self, timeout: float) -> None:
        """Starts every service as compose does: each as soon as what it depends on is started
        or healthy, the others meanwhile, and returns once every healthcheck passes."""
        deadline = time.monotonic() + timeout
        self.machine_netns = open("/proc/thread-self/ns/net")
        self._network()
        pending = start_order(self.services)
        while True:
            for name in [n for n in pending if self._dependencies_met(n)]:
                self._start(self.running[name])
                pending.remove(name)
            checking = [r for r in self.running.values() if r.started_at and r.service.healthcheck and not r.healthy]
            if not pending and not checking:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not up within {timeout} s: waiting for {pending or [r.service.name for r in checking]}"
                )
            for running in checking:
                self._check_health(running)
            time.sleep(0.2)

    def _dependencies_met(self, name: str) -> bool:
        for dependency, condition in self.services[name].depends_on.items():
            assert condition in ("service_started", "service_healthy"), f"{name}: depends_on {condition}"
            running = self.running[dependency]
            if not running.started_at or (condition == "service_healthy" and not running.healthy):
                return False
        return True

    def _netns_name(self, service: str) -> str:
        return f"vsc{self.run_id}-{service}"

    def _add_netns(self, name: str) -> str:
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return f"/run/netns/{name}"

    def _network(self) -> None:
        bridge_ns = self._netns_name("bridge")
        self._add_netns(bridge_ns)
        ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", bridge_ns, "link", "set", "br0", "up")
        self._add_netns(self._netns_name("host"))
        own = [s for s in self.services.values() if s.network_of is None]
        for index, service in enumerate(own, start=2):
            ns = self._netns_name(service.name)
            path = self._add_netns(ns)
            address = f"{SUBNET}.{index}"
            ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"v{index}", "netns", bridge_ns)
            ip("-n", bridge_ns, "link", "set", f"v{index}", "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            self.running[service.name] = Running(service, path, address)
        for service in self.services.values():
            if service.network_of is not None:
                owner = self.running[service.network_of]
                self.running[service.name] = Running(service, owner.netns, owner.address)
        hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + "".join(
            f"{r.address}\t{name}\n" for name, r in self.running.items() if r.service.network_of is None
        )
        (self.run_dir / "hosts").write_text(hosts)
        for running in self.running.values():
            for port in running.service.ports:
                self.forwarders.append(
                    Forwarder(
                        self.host_netns,
                        (port.host_ip, port.host_port),
                        running.netns,
                        (running.address, port.container_port),
                    )
                )

    def _start(self, running: Running) -> None:
        service = running.service
        running.log = self.run_dir / f"{service.name}.log"
        if service.image is None:
            self._start_postgres(running)
        else:
            self._start_container(running)
        running.started_at = time.monotonic()
        # Docker's first healthcheck comes one interval after the start.
        if service.healthcheck:
            running.next_check = running.started_at + service.healthcheck.interval

    def _start_container(self, running: Running) -> None:
        service = running.service
        image = service.image
        files = []
        for target, (origin, source) in image.files.items():
            path = self.binaries / source if origin == "build" else self.repo / source
            assert path.exists(), f"{service.name}: the image's {target} would come from {path}"
            files.append(f"{path}|{target}")
        mounts = []
        for mount in service.mounts:
            source = Path(mount.source)
            if mount.named:
                source = self.run_dir / "volumes" / mount.source
                if not source.exists():
                    source.mkdir(parents=True)
                    # A new named volume starts as the image's directory at that path.
                    if mount.target in image.user_dirs:
                        os.chown(source, *image.user)
            elif not source.exists():
                source.mkdir(parents=True)  # as Docker makes a missing bind source: root's
            mounts.append(f"{source}|{mount.target}|{'ro' if mount.read_only else 'rw'}")
        root = self.run_dir / "roots" / service.name
        root.mkdir(parents=True)
        env = [f"{k}={v}" for k, v in service.env.items()]
        argv = [
            "nsenter", f"--net={running.netns}", "unshare", "--mount", "--propagation", "private",
            "bash", "-c", _LAUNCH, "launch",
            str(root), str(self.run_dir / "hosts"), "{}:{}".format(*service.user), service.workdir,
            "\n".join(files), "\n".join(mounts),
            "-i", *env, *service.argv,
        ]  # fmt: skip
        with open(running.log, "wb") as log:
            running.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        # Started, as compose means it: the container's setup is done and its command runs.
        cmdline = Path(f"/proc/{running.process.pid}/cmdline")
        expected = "\0".join(service.argv) + "\0"
        deadline = time.monotonic() + 10
        while cmdline.read_text(errors="replace") != expected:
            if running.process.poll() is not None:
                raise AssertionError(f"{service.name} could not start:\n{self.log_tail(service.name)}")
            assert time.monotonic() < deadline, f"{service.name} did not start within 10 s"
            time.sleep(0.02)

    def _start_postgres(self, running: Running) -> None:
        self.database = f"vaultsim_compose_{self.run_id}"
        subprocess.run(
            ["psql", self.postgres_url, "-q", "-c", f'create database "{self.database}"'],
            check=True,
            capture_output=True,
        )
        compose_database = running.service.env.get("POSTGRES_DB", "postgres")
        self.forwarders.append(
            Forwarder(
                running.netns,
                ("0.0.0.0", POSTGRES_PORT),
                f"/proc/self/fd/{self.machine_netns.fileno()}",
                ("127.0.0.1", POSTGRES_PORT),
                opening=lambda client: rename_database(client, {compose_database: self.database}),
            )
        )
        # Its healthcheck (pg_isready) runs in its namespace against the forwarder: over TCP,
        # as there is no server's Unix socket there.
        running.health_env = {"PGHOST": "127.0.0.1"}

    def health_check(self, name: str) -> tuple[bool, str]:
        """One run of the service's healthcheck command, inside it as Docker runs it."""
        running = self.running[name]
        check = running.service.healthcheck
        env = [f"{k}={v}" for k, v in {**running.service.env, **running.health_env}.items()]
        if running.process is None:  # PostgreSQL: this machine's client, in its namespace
            argv = ["nsenter", f"--net={running.netns}", "env", *env, *check.test]
        else:
            uid, gid = running.service.user
            argv = [
                "nsenter", "-t", str(running.process.pid), "--net", "--mount", "--root", "--wd",
                f"--setuid={uid}", f"--setgid={gid}", "/usr/bin/env", "-i", *env, *check.test,
            ]  # fmt: skip
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=check.timeout)
        except subprocess.TimeoutExpired:
            return False, f"timed out after {check.timeout}s"
        return result.returncode == 0, (result.stdout + result.stderr).strip()

    def _check_health(self, running: Running) -> None:
        """Runs the healthcheck when its interval is due; a service whose check failed
        `retries` times after its start period is unhealthy, which fails the start, as
        compose fails the services that wait for it."""
        check = running.service.healthcheck
        now = time.monotonic()
        if now < running.next_check:
            return
        name = running.service.name
        if running.process is not None and running.process.poll() is not None:
            raise AssertionError(f"{name} exited with {running.process.returncode}:\n{self.log_tail(name)}")
        ok, running.health_output = self.health_check(name)
        running.next_check = time.monotonic() + check.interval
        if ok:
            running.healthy = True
            return
        if now - running.started_at > check.start_period:
            running.health_failures += 1
        if running.health_failures >= check.retries:
            running.healthy = False
            raise AssertionError(
                f"{name} is unhealthy ({running.health_failures} failed checks: {running.health_output!r}):\n"
                f"{self.log_tail(name)}"
            )

    def log_tail(self, name: str, lines: int = 40) -> str:
        log = self.running[name].log
        if log is None or not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    # -- down ----------------------------------------------------------------------------
    def down(self) -> None:
        processes = [r.process for r in self.running.values() if r.process is not None]
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for forwarder in self.forwarders:
            forwarder.close()
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        if self.machine_netns is not None:
            self.machine_netns.close()
        if self.database:
            subprocess.run(
                ["psql", self.postgres_url, "-q", "-c", f'drop database if exists "{self.database}" with (force)'],
                capture_output=True,
            )
