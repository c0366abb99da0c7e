"""autosred installed from its .deb in a booted Debian container, and the tools to look at it.

Everything here goes through the container's own tools (systemctl, journalctl, apt-get,
autosrectl, kill) run in the container, or through real clients on the host talking to the
daemon's listeners (the container shares the host's network).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.install.nspawn import Container, ContainerError, Exec, booted

UNIT = "autosred.service"
# The unit drop-in that gives the installed daemon its ports: free ones on this host, since
# the container shares the host's network with whatever else runs here (other tests, a
# developer's daemon on the default 8011). Environment overrides the YAML file
# (autosred.yaml's header), so the installed config is otherwise what the package ships.
PORTS_DROPIN = "/etc/systemd/system/autosred.service.d/50-install-test-ports.conf"
# The event that systemd logs when a start job is done (sd-messages.h SD_MESSAGE_UNIT_STARTED).
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Installed:
    container: Container
    deb: str  # the package's path inside the container
    api: str
    codex: str
    metrics: str
    archives: Path  # the host directory bound over the container's apt archives

    # ---- systemd ---------------------------------------------------------------------

    def systemctl(self, *args: str, timeout: float = 120.0) -> Exec:
        return self.container.run(["systemctl", "--no-pager", *args], timeout=timeout)

    def show(self, *properties: str) -> dict[str, str]:
        argv = ["show", UNIT, *(f"--property={name}" for name in properties)]
        text = self.systemctl(*argv).check().stdout
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def ensure_running(self) -> None:
        """Whatever an earlier test did (stopped it, froze it), the unit is active again."""
        self.systemctl("reset-failed", UNIT)
        self.systemctl("start", UNIT).check()
        state = self.show("ActiveState", "SubState")
        assert state == {"ActiveState": "active", "SubState": "running"}, state

    def main_pid(self) -> int:
        return int(self.show("MainPID")["MainPID"])

    def unit_processes(self) -> list[Any]:
        return [p for p in self.container.processes() if p.in_unit(UNIT)]

    # ---- journal ---------------------------------------------------------------------

    def cursor(self) -> str:
        """Where the journal ends now: entries after it are what a test caused."""
        text = self.container.run(["journalctl", "--no-pager", "-n", "1", "-o", "json"]).check()
        return str(json.loads(text.stdout)["__CURSOR"])

    def journal(self, *args: str, after: str | None = None) -> list[dict[str, Any]]:
        argv = ["journalctl", "--no-pager", "-o", "json", *args]
        if after is not None:
            argv.append(f"--after-cursor={after}")
        text = self.container.run(argv).check().stdout
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def daemon_entries(self, *, after: str | None = None) -> list[dict[str, Any]]:
        """The journal entries of what the unit's processes wrote to stdout/stderr. Filtered
        here, not by journalctl: systemd 252's journalctl finds nothing for field matches
        combined with --after-cursor (`-u` alone works)."""
        return [
            entry
            for entry in self.journal("-u", UNIT, after=after)
            if entry.get("_SYSTEMD_UNIT") == UNIT and entry.get("_TRANSPORT") == "stdout"
        ]

    def daemon_events(self, *, after: str | None = None) -> list[dict[str, Any]]:
        """The daemon's own log lines, each parsed as JSON."""
        return [json.loads(entry["MESSAGE"]) for entry in self.daemon_entries(after=after)]

    def wait_for_event(self, event: str, *, after: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.daemon_events(after=after):
                if line.get("event") == event:
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} in the journal after {timeout:.0f} s")
            time.sleep(0.2)

    # ---- the api ---------------------------------------------------------------------

    def models(self) -> list[str]:
        response = httpx.get(f"{self.api}/v1/models", timeout=10)
        response.raise_for_status()
        return [entry["id"] for entry in response.json()["data"]]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@contextlib.contextmanager
def _timed(log: Path, step: str) -> Iterator[None]:
    """One line per step in ``log``: where a slow run spends its time."""
    start = time.monotonic()
    try:
        yield
    finally:
        with log.open("a") as out:
            out.write(f"{time.strftime('%H:%M:%S')} {step}: {time.monotonic() - start:.1f} s\n")


@contextlib.contextmanager
def installed(root: Path, deb: Path, *, work: Path, apt_archives: Path) -> Iterator[Installed]:
    """Boot ``root``, `apt-get install ./<deb>` inside; power off on the way out."""
    timings = work / "timings.log"
    ports = {name: free_port() for name in ("api", "codex", "metrics")}
    (apt_archives / "partial").mkdir(parents=True, exist_ok=True)
    with booted(
        root,
        binds=[(apt_archives, "/var/cache/apt/archives", False)],
        log_dir=work / "logs",
        timings=timings,
    ) as container:
        _write(
            container.host_path(PORTS_DROPIN),
            "[Service]\n"
            + "".join(
                f"Environment=AUTOSRED_{name.upper()}__LISTEN=127.0.0.1:{port}\n"
                for name, port in ports.items()
            ),
        )
        shutil.copy2(deb, container.host_path(f"/root/{deb.name}"))
        box = Installed(
            container=container,
            deb=f"/root/{deb.name}",
            api=f"http://127.0.0.1:{ports['api']}",
            codex=f"http://127.0.0.1:{ports['codex']}",
            metrics=f"http://127.0.0.1:{ports['metrics']}",
            archives=apt_archives,
        )
        with _timed(timings, f"apt-get install {deb.name}"):
            apt_install(box, box.deb)
        yield box


def apt_install(box: Installed, deb: str, *, timeout: float = 600.0) -> Exec:
    """`apt-get install ./autosred_….deb` as an operator runs it: the package's dependencies
    come from the mirror (the downloaded .debs are kept between runs, see conftest)."""
    apt_get(box, "update", timeout=timeout)
    return apt_get(box, "install", "-y", deb, timeout=timeout)


def apt_get(box: Installed, *arguments: str, timeout: float = 300.0) -> Exec:
    """`apt-get -q ARGUMENTS` in the container, one apt at a time on the shared archives
    (every apt-get of these tests goes through here); ContainerError unless it succeeds."""
    with _apt_lock(box.archives):
        result = box.container.run(["apt-get", "-q", *arguments], timeout=timeout)
    if result.returncode != 0:
        raise ContainerError(
            f"apt-get {' '.join(arguments)} exited {result.returncode}\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


@contextlib.contextmanager
def _apt_lock(archives: Path) -> Iterator[None]:
    """One apt at a time on the shared archives. apt's own lock file lives in them, so two
    containers running apt at once (two pytest workers, as clean clones' CI runs did: an
    install, and later a purge) made the second fail at once with "Could not get lock
    /var/cache/apt/archives/lock"."""
    with (archives.parent / f"{archives.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
