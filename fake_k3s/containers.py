"""The container runtime: a model-server container runs as an ``autosred-sim`` process.

What the sim serves is read from the container the way vLLM would read it: the served name
from ``--served-model-name`` (else ``--model`` or the positional model of ``vllm serve``), the
port from ``--port`` (else the first containerPort, else vLLM's 8000), ``--max-model-len``.
The process binds podIP:port, so the pod is reached where the pod spec says.

No orphans: each sim leads its own process group (the kubelet signals the group) and asks the
kernel for SIGTERM when the thread that started it exits (``PR_SET_PDEATHSIG``; the fake's
event loop runs on the main thread, so that is when the fake's process dies), checking after
arming it that its parent is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("fake_k3s.containers")

DEFAULT_PORT = 8000
LOG_LINES = 2000
"""Output lines kept per container run (``kubectl logs`` reads them)."""
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServerArgs:
    model: str
    port: int
    max_model_len: int | None = None


def _flag(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def server_args(container: dict[str, Any]) -> ServerArgs:
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    model = _flag(argv, "--served-model-name") or _flag(argv, "--model")
    if model is None and "serve" in argv:
        after = argv[argv.index("serve") + 1 :]
        if after and not after[0].startswith("-"):
            model = after[0]
    port_text = _flag(argv, "--port")
    if port_text is not None:
        port = int(port_text)
    else:
        ports = [p.get("containerPort") for p in container.get("ports") or []]
        port = int(ports[0]) if ports and ports[0] else DEFAULT_PORT
    max_len = _flag(argv, "--max-model-len")
    return ServerArgs(
        model=model or str(container.get("name", "model")),
        port=port,
        max_model_len=int(max_len) if max_len else None,
    )


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _die_with_parent(prctl: Callable[..., int] | None, parent: int) -> Callable[[], None]:
    # Built in the parent: the forked child runs only this closure before exec (no imports,
    # no locks another thread might have held at fork time).
    args = (ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM))

    def setup() -> None:
        if prctl is not None:
            prctl(*args)
        if os.getppid() != parent:
            os._exit(1)

    return setup


class SimProcess:
    """One run of a container: the sim process and its output."""

    def __init__(self, *, label: str) -> None:
        self.label = label
        self.output: deque[str] = deque(maxlen=LOG_LINES)
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(
        self, *, host: str, args: ServerArgs, startup_delay: float, fail_start: str | None
    ) -> None:
        argv = [
            sys.executable, "-m", "autosred.sim", "--host", host, "--port", str(args.port),
            "--model", args.model, "--startup-delay", str(startup_delay),
        ]  # fmt: skip
        if args.max_model_len is not None:
            argv += ["--max-model-len", str(args.max_model_len)]
        if fail_start is not None:
            argv += ["--fail-start", fail_start]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent(_load_prctl(), os.getpid()),
        )
        log.info("container %s: started sim pid=%s argv=%s", self.label, self._process.pid, argv)
        self._reader = asyncio.create_task(self._read(), name=f"fake-k3s.output:{self.label}")

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            self.output.append(text)
            log.debug("container %s: %s", self.label, text)

    async def wait(self) -> int:
        """The exit code as a container runtime reports it (128+N when killed by signal N)."""
        assert self._process is not None
        code = await self._process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({self._reader}, timeout=1.0)
        return 128 - code if code < 0 else code

    def signal(self, signum: signal.Signals) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    async def stop(self, grace: float) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code."""
        self.signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(self.wait()), grace)
        except TimeoutError:
            self.signal(signal.SIGKILL)
            return await self.wait()

    async def kill(self) -> None:
        """SIGKILL and reap, for a pod removed without grace (or the fake shutting down)."""
        self.signal(signal.SIGKILL)
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()
