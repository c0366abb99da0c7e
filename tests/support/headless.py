"""Running a real CLI client (Claude Code, Codex) headless, as a user's script would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path


async def run_headless(
    command: list[str], *, cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``command`` run with stdin closed; its whole process
    group is killed past ``timeout`` (the test then fails saying so)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise AssertionError(f"{command[0]} did not finish within {timeout:g} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
