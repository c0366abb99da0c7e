"""Running autosrectl as a real subprocess, concurrently with the daemon in this event loop."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from autosred.admin.schema import SOCKET_ENV

COMMAND = (sys.executable, "-m", "autosred.ctl")


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without a socket override from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
    env.update(extra)
    return env


async def run(*args: str, env: dict[str, str] | None = None) -> Result:
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or clean_env(),
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


@dataclass(frozen=True)
class Ctl:
    """autosrectl pointed at one daemon's socket."""

    socket: Path

    async def __call__(self, *args: str) -> Result:
        return await run("--socket", str(self.socket), *args)

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """For a command a test talks to while it runs (reads its output line by line)."""
        return await asyncio.create_subprocess_exec(
            *COMMAND,
            "--socket",
            str(self.socket),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(),
        )
