"""The parent side of the load generator: spawn ``python -m bench.loadgen``, act on its events
while it runs, return its result."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

Hook = Callable[["LoadProcess"], None]
ROOT = Path(__file__).resolve().parent.parent
"""The repository root: where ``python -m bench.loadgen`` finds the package."""


def loadgen_command(spec: Mapping[str, Any]) -> list[str]:
    return [sys.executable, "-m", "bench.loadgen", json.dumps(spec, separators=(",", ":"))]


def shown_command(spec: Mapping[str, Any]) -> str:
    """The command as a user would type it from the repository root."""
    return "python -m bench.loadgen " + shlex.quote(json.dumps(spec, separators=(",", ":")))


class LoadError(RuntimeError):
    """The load generator failed or reported a failure."""


@dataclass
class LoadProcess:
    process: subprocess.Popen[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def send_line(self, line: str = "") -> None:
        stdin: IO[str] | None = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()


def run_load(
    spec: Mapping[str, Any], *, hooks: Mapping[str, Hook] | None = None, timeout: float = 300.0
) -> dict[str, Any]:
    """Run one load generator to its end; ``hooks[event]`` runs when it reports ``event``."""
    hooks = hooks or {}
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            loadgen_command(spec),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
        )
        result = _follow(LoadProcess(process), hooks, timeout)
        stderr.seek(0)
        if process.returncode != 0 or result is None:
            raise LoadError(f"load generator exited {process.returncode}: {stderr.read()[-2000:]}")
    return result


def _follow(load: LoadProcess, hooks: Mapping[str, Hook], timeout: float) -> dict[str, Any] | None:
    process = load.process
    result: dict[str, Any] | None = None
    watchdog = threading.Timer(timeout, process.kill)  # a hung generator ends the run
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            message = json.loads(line)
            event = message.pop("event")
            if event == "result":
                result = message
            elif event == "failed":
                raise LoadError(f"load generator: {message.get('reason')}")
            if event in hooks:
                hooks[event](load)
        process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    return result
