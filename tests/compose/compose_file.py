"""What docker/compose.yaml and docker/Dockerfile give each service, read as Docker Compose
reads them: the entrypoint, command, environment, user, working directory, mounts, ports,
network, dependencies and healthcheck a container would get. Only the parts of the two
formats that our files use are read; anything else in them is refused loudly, so that a
change the harness does not understand fails the test instead of being run differently.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

# The PATH of the Debian base image's config, which a container starts with.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def interpolate(value, variables: dict[str, str]):
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$`, in every string."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = variables.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?") and not current:
            raise ValueError(f"compose variable {name} is required: {arg}")
        return current or ""

    return _INTERPOLATION.sub(substitute, value)


def _duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(number) * units[unit]
    return total


@dataclass
class Healthcheck:
    """A container's healthcheck: `test` as argv (CMD-SHELL becomes `/bin/sh -c`)."""

    test: list[str]
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0

    @classmethod
    def parse(cls, spec: dict, defaults: Healthcheck | None) -> Healthcheck | None:
        if spec.get("disable"):
            return None
        test = spec.get("test", defaults.test if defaults else None)
        if test is None:
            return defaults
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        kind, *argv = test
        if kind == "NONE":
            return None
        if kind == "CMD-SHELL":
            argv = ["/bin/sh", "-c", " ".join(argv)]
        elif kind != "CMD":
            raise ValueError(f"healthcheck test {test!r}")
        base = defaults or cls(test=argv)
        return cls(
            test=argv,
            interval=_duration_seconds(spec["interval"]) if "interval" in spec else base.interval,
            timeout=_duration_seconds(spec["timeout"]) if "timeout" in spec else base.timeout,
            retries=int(spec.get("retries", base.retries)),
            start_period=(
                _duration_seconds(spec["start_period"]) if "start_period" in spec else base.start_period
            ),
        )


@dataclass
class Image:
    """The runtime stage of docker/Dockerfile as a container sees it."""

    env: dict[str, str]
    user: tuple[int, int]
    home: str
    workdir: str
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: Healthcheck | None
    # Image path -> where it comes from: ("build", name of a file the build stage made) or
    # ("context", a path in the build context).
    files: dict[str, tuple[str, str]]
    # Directories the image makes owned by its user (a named volume mounted there starts so).
    user_dirs: list[str]
    # VOLUME paths: a container that mounts nothing there gets an anonymous volume.
    volumes: list[str]


def _exec_form(text: str) -> list[str]:
    text = text.strip()
    if not text.startswith("["):
        return ["/bin/sh", "-c", text]
    return list(yaml.safe_load(text))


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def read_image(dockerfile: Path, build_args: dict[str, str]) -> Image:
    """The last stage of `dockerfile` with `build_args`, as an `Image`."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _instructions(dockerfile.read_text()):
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    build_stage_names = {rest.split()[-1] for keyword, rest in (s[0] for s in stages[:-1])}
    args: dict[str, str] = {}
    env: dict[str, str] = {"PATH": IMAGE_PATH}
    user, home, workdir = "0:0", "/root", "/"
    entrypoint: list[str] = []
    cmd: list[str] = []
    healthcheck = None
    files: dict[str, tuple[str, str]] = {}
    user_dirs: list[str] = []
    volumes: list[str] = []

    def expand(text: str) -> str:
        return re.sub(
            r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
            lambda m: {**args, **env}.get(m.group(1), m.group(0)),
            text,
        )

    for keyword, rest in stages[-1]:
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = build_args.get(name, default)
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = expand(value)
        elif keyword == "USER":
            user = expand(rest)
        elif keyword == "VOLUME":
            volumes += _exec_form(rest) if rest.startswith("[") else rest.split()
        elif keyword == "WORKDIR":
            workdir = expand(rest)
        elif keyword == "ENTRYPOINT":
            entrypoint = _exec_form(rest)
            cmd = []
        elif keyword == "CMD":
            cmd = _exec_form(rest)
        elif keyword == "HEALTHCHECK":
            options = dict(re.findall(r"--([a-z-]+)=(\S+)", rest))
            test = re.sub(r"^(--\S+\s+)*", "", rest)
            assert test.startswith("CMD "), f"HEALTHCHECK {rest!r}"
            spec = {k.replace("-", "_"): v for k, v in options.items()}
            spec["test"] = ["CMD", *_exec_form(test[4:])]
            healthcheck = Healthcheck.parse(spec, None)
        elif keyword == "COPY":
            words = rest.split()
            source_stage = None
            while words[0].startswith("--"):
                flag, _, value = words.pop(0).partition("=")
                if flag == "--from":
                    assert value in build_stage_names, f"COPY --from={value}"
                    source_stage = value
            *sources, destination = words
            for source in sources:
                target = destination + Path(source).name if destination.endswith("/") else destination
                files[target] = ("build", Path(source).name) if source_stage else ("context", source)
        elif keyword == "RUN":
            expanded = expand(rest)
            for match in re.finditer(r"install -d -o \"?(\d+)\"? -g \"?(\d+)\"? ((?:/\S+\s*)+)", expanded):
                user_dirs += match.group(3).split()
            home_match = re.search(r"useradd .*--home-dir (\S+)", expanded)
            if home_match:
                home = home_match.group(1)
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit(), f"USER {user!r}: the harness runs numeric users"
    return Image(
        env=env,
        user=(int(uid), int(gid)),
        home=home if int(uid) else "/root",
        workdir=workdir,
        entrypoint=entrypoint,
        cmd=cmd,
        healthcheck=healthcheck,
        files=files,
        user_dirs=user_dirs,
        volumes=volumes,
    )


@dataclass
class Mount:
    source: str  # a named volume's name, or an absolute host path
    target: str
    read_only: bool
    named: bool


@dataclass
class Port:
    host_ip: str
    host_port: int
    container_port: int


@dataclass
class Service:
    name: str
    # None for a service whose image is not built here (PostgreSQL): the machine's plays it.
    image: Image | None
    argv: list[str]
    env: dict[str, str]
    user: tuple[int, int]
    workdir: str
    mounts: list[Mount]
    ports: list[Port]
    # The service whose network this one shares (`network_mode: service:<name>`), or None.
    network_of: str | None
    # name -> condition (service_started, service_healthy)
    depends_on: dict[str, str]
    healthcheck: Healthcheck | None


def _environment(spec) -> dict[str, str]:
    if spec is None:
        return {}
    if isinstance(spec, list):
        return dict(item.partition("=")[::2] for item in spec)
    return {k: "" if v is None else str(v) for k, v in spec.items()}


def read_compose(compose_file: Path, variables: dict[str, str]) -> dict[str, Service]:
    """Every service of `compose_file`, interpolated with `variables` (the shell's)."""
    document = interpolate(yaml.safe_load(compose_file.read_text()), variables)
    base = compose_file.parent
    images: dict[tuple, Image] = {}
    services: dict[str, Service] = {}
    for name, spec in document["services"].items():
        image = None
        if "build" in spec:
            build = spec["build"]
            args = {k: str(v) for k, v in (build.get("args") or {}).items()}
            key = (build["context"], build["dockerfile"], tuple(sorted(args.items())))
            if key not in images:
                images[key] = read_image((base / build["context"] / build["dockerfile"]).resolve(), args)
            image = images[key]
        entrypoint = spec.get("entrypoint")
        command = spec.get("command")
        if isinstance(entrypoint, str):
            entrypoint = shlex.split(entrypoint)
        if isinstance(command, str):
            command = shlex.split(command)
        if image is not None:
            # As Docker does: an entrypoint given by the service drops the image's CMD.
            argv = (entrypoint if entrypoint is not None else image.entrypoint) + (
                command if command is not None else ([] if entrypoint is not None else image.cmd)
            )
            env = {**image.env, "HOME": image.home, **_environment(spec.get("environment"))}
            user = image.user
            if "user" in spec:
                uid, _, gid = str(spec["user"]).partition(":")
                user = (int(uid), int(gid or uid))
            workdir = spec.get("working_dir", image.workdir)
        else:
            argv, env, user, workdir = [], _environment(spec.get("environment")), (0, 0), "/"
        mounts = []
        for volume in spec.get("volumes", []):
            assert isinstance(volume, str), f"{name}: long volume syntax"
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            named = not source.startswith((".", "/", "~"))
            if not named:
                source = str((base / Path(source).expanduser()).resolve())
            mounts.append(Mount(source, target, len(parts) > 2 and "ro" in parts[2].split(","), named))
        for target in image.volumes if image else []:
            if target not in {m.target for m in mounts}:
                mounts.append(Mount(f"{name}-anonymous{target.replace('/', '-')}", target, False, True))
        ports = []
        for port in spec.get("ports", []):
            host_ip, host_port, container_port = str(port).split(":")
            ports.append(Port(host_ip, int(host_port), int(container_port)))
        network_mode = spec.get("network_mode")
        network_of = None
        if network_mode:
            assert network_mode.startswith("service:"), f"{name}: network_mode {network_mode}"
            network_of = network_mode.split(":", 1)[1]
            assert not ports, f"{name}: a service on another's network publishes no ports"
        depends = spec.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: "service_started" for d in depends}
        else:
            depends = {d: (c or {}).get("condition", "service_started") for d, c in depends.items()}
        if network_of and network_of not in depends:
            depends[network_of] = "service_started"
        healthcheck = Healthcheck.parse(spec.get("healthcheck") or {}, image.healthcheck if image else None)
        services[name] = Service(
            name=name,
            image=image,
            argv=argv,
            env=env,
            user=user,
            workdir=workdir,
            mounts=mounts,
            ports=ports,
            network_of=network_of,
            depends_on=depends,
            healthcheck=healthcheck,
        )
    return services


def start_order(services: dict[str, Service]) -> list[str]:
    """The services, each after what it depends on (as `docker compose up` starts them)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        assert name not in visiting, f"dependency cycle through {name}"
        visiting.add(name)
        for dependency in services[name].depends_on:
            visit(dependency)
        order.append(name)

    for name in services:
        visit(name)
    return order
