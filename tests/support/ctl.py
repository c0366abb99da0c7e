"""autosrectl as a subprocess, the way an operator or a script runs it."""

from __future__ import annotations

import asyncio
import sys


async def autosrectl(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``autosrectl ARGS``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "autosred.ctl",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
