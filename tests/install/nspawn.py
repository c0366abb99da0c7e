"""A Debian root booted with systemd-nspawn: systemd as PID 1, driven from the host.

How it runs, and why:

- ``systemd-nspawn --boot --register=no --keep-unit``: no machined or host systemd is needed
  (the CI machine's PID 1 need not be systemd). ``--keep-unit`` makes nspawn use the cgroup it
  was started in, so each container is started in a cgroup of its own: a transient scope
  (``systemd-run --scope``) where the host runs systemd, else a directory this module makes in
  every cgroup hierarchy nspawn uses (the unified one, and name=systemd on a hybrid host) and
  removes afterwards. Two containers never share a cgroup, and none is left behind.
- The host's network, not a private one: the container's apt reaches the mirror exactly as
  the host's does, and the tests reach the daemon's listeners from outside the container
  with real clients on 127.0.0.1. Ports therefore must not collide with anything else on the
  host: the tests give the daemon free ports through a unit drop-in (see conftest).
- Commands run inside through ``nsenter --all`` into the namespaces of the container's PID 1
  (its leader), found as the nspawn process's child whose PID inside its namespace is 1.
  That needs no console, no machined and no agent in the container, and the command's exit
  status and output come back as a subprocess's. ``systemctl is-system-running --wait`` run
  that way is the boot's end (multi-user.target reached, or the units that failed).
- ``--volatile=overlay``: the root is the cached one, read-only under an overlay whose upper
  layer is a tmpfs. Nothing is copied before a boot or deleted after it, the cached root is
  never written to (containers may share it), and dpkg's fsyncs cost nothing. The host reaches
  the container's files through ``/proc/<leader>/root``.
- ``setpriv --pdeathsig TERM``: the container goes down cleanly if the test process dies
  (nspawn turns SIGTERM into a clean poweroff of the container).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_TIMEOUT = 90.0
POWEROFF_TIMEOUT = 60.0


class ContainerError(Exception):
    pass


def missing_requirements() -> list[str]:
    """What this machine lacks to boot a container: each entry says what and how to get it."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (booting a container needs it; run the install tests as root)")
    for tool, package in (
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
        ("nsenter", "util-linux"),
        ("setpriv", "util-linux"),
        ("dpkg-deb", "dpkg"),
    ):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (Debian package {package}: tests/setup/install-test-deps.sh)")
    return missing


def _cgroup_mounts() -> list[Path]:
    """The cgroup hierarchies nspawn places a container in: the unified (v2) one and, on a
    hybrid or legacy host, the named systemd one."""
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            _, where, kind, options, *_ = line.split()
            if kind == "cgroup2" or (kind == "cgroup" and "name=systemd" in options.split(",")):
                found.append(Path(where.replace("\\040", " ")))
    return found


def _host_runs_systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemd-run") is not None


@dataclass
class Exec:
    """A finished command in the container."""

    argv: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Exec:
        if self.returncode != 0:
            raise ContainerError(
                f"{' '.join(self.argv)} exited {self.returncode}\n"
                f"stdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"
            )
        return self


@dataclass
class Container:
    """A booted container. Make it with :func:`booted`."""

    name: str
    root: Path
    process: subprocess.Popen[bytes]
    console: Path
    leader: int = 0
    cgroups: list[Path] = field(default_factory=list)

    def host_path(self, path: str) -> Path:
        """``path`` inside the container as the host sees it (through its PID 1's root)."""
        return Path(f"/proc/{self.leader}/root") / path.lstrip("/")

    def _nsenter(self, argv: Sequence[str], env: dict[str, str] | None) -> list[str]:
        environment = {
            "PATH": CONTAINER_PATH,
            "LANG": "C.UTF-8",
            "HOME": "/root",
            "TERM": "dumb",
            "SYSTEMD_PAGER": "",
            "SYSTEMD_COLORS": "0",
            "DEBIAN_FRONTEND": "noninteractive",
            **(env or {}),
        }
        pairs = [f"{key}={value}" for key, value in environment.items()]
        return ["nsenter", f"--target={self.leader}", "--all", "--", "env", "-i", *pairs, *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        user: str | None = None,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
    ) -> Exec:
        """``argv`` in the container, as root or as ``user`` (with that user's supplementary
        groups; its primary group is the one of its name, as useradd makes it)."""
        command = list(argv)
        if user is not None:
            command = [
                "setpriv",
                f"--reuid={user}",
                f"--regid={user}",
                "--init-groups",
                "--reset-env",
                "--",
                *command,
            ]
        result = subprocess.run(
            self._nsenter(command, env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Exec(list(argv), result.returncode, result.stdout, result.stderr)

    def host_pid(self, pid: int) -> int | None:
        """The host's PID of the container's process ``pid`` (None when it is gone)."""
        return next((p.host_pid for p in self.processes() if p.pid == pid), None)

    def processes(self) -> list[ContainerProcess]:
        """Every process in the container, as the host's /proc sees it."""
        namespace = os.readlink(f"/proc/{self.leader}/ns/pid")
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns" / "pid") != namespace:
                    continue
                status = dict(
                    line.split(":", 1) for line in (entry / "status").read_text().splitlines()
                )
                cgroup = (entry / "cgroup").read_text()
                found.append(
                    ContainerProcess(
                        host_pid=int(entry.name),
                        pid=int(status["NSpid"].split()[-1]),
                        uid=int(status["Uid"].split()[0]),
                        command=(entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(),
                        status={key: value.strip() for key, value in status.items()},
                        cgroup=cgroup,
                        mount_namespace=os.readlink(entry / "ns" / "mnt"),
                    )
                )
        return found


@dataclass(frozen=True)
class ContainerProcess:
    host_pid: int
    pid: int
    uid: int
    command: str
    status: dict[str, str]
    cgroup: str
    mount_namespace: str

    def in_unit(self, unit: str) -> bool:
        """Whether the unified hierarchy places it in system unit ``unit``'s cgroup (or below)."""
        for line in self.cgroup.splitlines():
            if line.startswith("0::"):
                path = line.split("::", 1)[1].rstrip("/") + "/"
                return f"/system.slice/{unit}/" in path
        return False


def _leader(nspawn: int, deadline: float) -> int:
    """The container's PID 1 as the host sees it: a child (or grandchild) of nspawn whose
    innermost PID is 1."""
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                status = dict(
                    line.split(":", 1) for line in (entry / "status").read_text().splitlines()
                )
                nspids = status.get("NSpid", "").split()
                if len(nspids) > 1 and nspids[-1] == "1" and _descends(int(entry.name), nspawn):
                    return int(entry.name)
        time.sleep(0.05)
    raise ContainerError("the container's PID 1 never appeared")


def _descends(pid: int, ancestor: int) -> bool:
    for _ in range(4):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        ppid = int(
            next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1]
        )
        if ppid == ancestor:
            return True
        pid = ppid
    return False


def _own_cgroups(name: str) -> list[Path]:
    made = []
    for mount in _cgroup_mounts():
        group = mount / name
        group.mkdir()
        made.append(group)
    return made


def _remove_cgroups(groups: list[Path]) -> None:
    for group in groups:
        if not group.exists():
            continue
        for directory in sorted(
            (path for path in group.rglob("*") if path.is_dir()),
            key=lambda path: len(path.parts),
            reverse=True,
        ):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            group.rmdir()


@contextlib.contextmanager
def booted(
    root: Path,
    *,
    binds: Sequence[tuple[Path, str, bool]] = (),
    log_dir: Path,
    timings: Path | None = None,
) -> Iterator[Container]:
    """Boot ``root`` (left unchanged: the container writes to a tmpfs over it) and wait until
    its systemd is up; power it off and wait for that on the way out.

    ``binds``: (host path, container path, read-only) pairs.
    """
    name = f"autosred-it-{uuid.uuid4().hex[:8]}"
    log_dir.mkdir(parents=True, exist_ok=True)
    console = log_dir / f"{name}.console.log"
    argv = [
        "systemd-nspawn",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--console=passive",
        "--volatile=overlay",
        f"--machine={name}",
        f"--directory={root}",
    ]
    for source, target, read_only in binds:
        argv.append(f"--bind{'-ro' if read_only else ''}={source}:{target}")
    argv = ["setpriv", "--pdeathsig", "TERM", "--", *argv]
    cgroups: list[Path] = []
    if _host_runs_systemd():
        argv = ["systemd-run", "--scope", "--quiet", "--collect", f"--unit={name}", *argv]
        launch = argv
    else:
        cgroups = _own_cgroups(name)
        # The shell moves itself into the new cgroups, then becomes nspawn: nspawn never runs
        # for an instant in the test's own cgroup.
        moves = " ".join(f"'{group}/cgroup.procs'" for group in cgroups)
        launch = ["sh", "-c", f'for f in {moves}; do echo $$ > "$f"; done; exec "$@"', "sh", *argv]
    with console.open("wb") as out:
        process = subprocess.Popen(launch, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    container = Container(name=name, root=root, process=process, console=console, cgroups=cgroups)
    try:
        start = time.monotonic()
        deadline = start + BOOT_TIMEOUT
        container.leader = _leader(process.pid, deadline)
        _wait_running(container, deadline)
        _note(timings, "boot", start)
        yield container
    finally:
        start = time.monotonic()
        if _poweroff(container):
            console.unlink(missing_ok=True)  # kept only when something went wrong
        _note(timings, "power off", start)
        _remove_cgroups(cgroups)
        with contextlib.suppress(OSError):
            Path(f"/run/systemd/nspawn/propagate/{name}").rmdir()


def _note(timings: Path | None, step: str, start: float) -> None:
    if timings is not None:
        with timings.open("a") as out:
            out.write(f"{time.strftime('%H:%M:%S')} {step}: {time.monotonic() - start:.1f} s\n")


def _wait_running(container: Container, deadline: float) -> None:
    """Until the container's systemd says the boot is over: `running`, else the failed units."""
    state = ""
    while time.monotonic() < deadline:
        if container.process.poll() is not None:
            raise ContainerError(
                f"systemd-nspawn exited {container.process.returncode}: {_tail(container.console)}"
            )
        try:
            result = container.run(
                ["systemctl", "is-system-running", "--wait"],
                timeout=max(1.0, deadline - time.monotonic()),
            )
        except subprocess.TimeoutExpired:
            break
        state = result.stdout.strip()
        if state == "running":
            return
        if state == "degraded":
            failed = container.run(["systemctl", "--failed", "--no-legend", "--plain"]).stdout
            raise ContainerError(f"the container booted degraded; failed units:\n{failed}")
        # Too early: systemd's private bus is not up yet ("Failed to connect to bus").
        time.sleep(0.1)
    raise ContainerError(
        f"no booted system after {BOOT_TIMEOUT:.0f} s (last state {state!r}): "
        + _tail(container.console)
    )


def _poweroff(container: Container) -> bool:
    """Whether the container shut down cleanly, and in time."""
    process = container.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=POWEROFF_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
            return False
    return process.returncode == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no console log: {exc})"
