"""The processes under test: one simulator, and the daemon fronting it with the static engine.

Why the static engine: the simulator is started here, so the daemon path and the direct path
hit the very same simulator process (same pid, same warm state), the simulator's own CPU time
can be read from /proc, and nothing (idle scale-down, a restart) can replace it mid-run. The
relay code is the same as with the process engine (gate lease, pooled upstream session).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL = "bench"
SERVED = "bench-served"
MAX_MODEL_LEN = 131072
"""The simulator's context window: Claude Code asks for max_tokens 32000, which fits without
clamping (as with the 128k-context models it is used with)."""


class StartError(RuntimeError):
    """A process under test did not come up."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("autosred", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


def admin_get(socket_path: Path, path: str, timeout: float = 5.0) -> Any:
    """GET on the admin socket; the JSON body (the first line when it is NDJSON)."""
    connection = _UnixHTTPConnection(socket_path, timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise StartError(f"admin GET {path}: HTTP {response.status}: {body[:200]!r}")
        return json.loads(body.splitlines()[0])
    finally:
        connection.close()


def http_get_status(host: str, port: int, path: str, timeout: float = 2.0) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _clean_env() -> dict[str, str]:
    """This environment without systemd's or the user's autosred settings."""
    dropped = ("NOTIFY_SOCKET", "WATCHDOG_", "AUTOSRED_")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


@dataclass
class Sim:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    command: list[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    admin_socket: Path
    config_path: Path
    log_path: Path
    command: list[str]
    pid: int = 0
    """From the admin status (``pid``)."""
    listeners: dict[str, str] | None = None

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = admin_get(self.admin_socket, "/v1/status")
        return status

    @property
    def api(self) -> tuple[str, int]:
        assert self.listeners is not None
        return split_address(self.listeners["api"])


def wait_until(
    what: str, ready: Any, process: subprocess.Popen[bytes], log: Path, *, timeout: float = 30.0
) -> None:
    """Poll ``ready()`` until it is true; StartError when ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"{what} exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if ready():
                return
        except (OSError, StartError, ValueError) as exc:
            last = exc
        time.sleep(0.05)
    raise StartError(f"{what} not ready after {timeout:g} s ({last}):\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running_sim(workdir: Path) -> Iterator[Sim]:
    host, port = "127.0.0.1", free_port()
    command = [
        sys.executable,
        "-m",
        "autosred.sim",
        "--host",
        host,
        "--port",
        str(port),
        "--model",
        SERVED,
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--log-level",
        "WARNING",
    ]
    log = workdir / "sim.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=out, env=_clean_env(), start_new_session=True
        )
    try:
        wait_until(
            "autosred-sim", lambda: http_get_status(host, port, "/health") == 200, process, log
        )
        yield Sim(process=process, host=host, port=port, command=command)
    finally:
        stop_process(process)


def daemon_config(workdir: Path, sim: Sim) -> dict[str, Any]:
    """Production defaults (info logs, every listener) except addresses and paths."""
    return {
        "api": {"listen": "127.0.0.1:0"},
        "codex": {"listen": "127.0.0.1:0"},
        "metrics": {"listen": "127.0.0.1:0"},
        "admin": {"socket": str(workdir / "admin.sock"), "group": None},
        "state_dir": str(workdir / "state"),
        "engine": {"kind": "static", "url": sim.url},
        "log": {"level": "info", "format": "json"},
        "recipes_dir": None,
        "recipes": [
            {
                "name": MODEL,
                "served_model_name": SERVED,
                "idle_timeout": "1h",
                "wake_budget": "60s",
            }
        ],
    }


UVLOOP_LAUNCHER = (
    "import runpy, uvloop; uvloop.install(); "
    "runpy.run_module('autosred.daemon', run_name='__main__', alter_sys=True)"
)
"""``--daemon-loop uvloop``: the unchanged daemon on uvloop's event loop (an experiment: how
much of the relay's cost is the event loop's)."""


def daemon_command(config_path: Path, *, loop: str = "asyncio") -> list[str]:
    if loop == "uvloop":
        return [sys.executable, "-c", UVLOOP_LAUNCHER, "--config", str(config_path)]
    return [sys.executable, "-m", "autosred.daemon", "--config", str(config_path)]


@contextlib.contextmanager
def running_daemon(
    workdir: Path,
    sim: Sim,
    *,
    loop: str = "asyncio",
    sections: dict[str, Any] | None = None,
    models_ready: bool = True,
    prefix: Sequence[str] = (),
    start_timeout: float = 30.0,
    stop_grace: float = 10.0,
) -> Iterator[Daemon]:
    """``sections``: top-level config sections set on top of `daemon_config` (e.g. ``mcp``,
    or ``engine`` and ``recipes`` for another engine). Yields once every model is ready, or
    with ``models_ready`` false once the admin API answers (a process engine's model starts at
    zero). ``prefix``: a command the daemon runs under (``valgrind …``, which is why it may
    take ``start_timeout`` to start and ``stop_grace`` to stop)."""
    config_path = workdir / "autosred.yaml"
    # JSON is YAML.
    config_path.write_text(
        json.dumps({**daemon_config(workdir, sim), **(sections or {})}, indent=2)
    )
    command = [*prefix, *daemon_command(config_path, loop=loop)]
    log = workdir / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=out, env=_clean_env(), start_new_session=True
        )
    daemon = Daemon(
        process=process,
        admin_socket=workdir / "admin.sock",
        config_path=config_path,
        log_path=log,
        command=command,
    )

    def ready() -> bool:
        status = daemon.status()
        return not models_ready or all(model["state"] == "ready" for model in status["models"])

    try:
        wait_until("autosred", ready, process, log, timeout=start_timeout)
        status = daemon.status()
        daemon.pid = int(status["pid"])
        daemon.listeners = dict(status["listeners"])
        yield daemon
    finally:
        stop_process(process, grace=stop_grace)
