"""No orphans: a child outlives neither a SIGKILLed daemon nor a stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from .helpers import is_gone, kill_if_alive, wait_for

PARENT = Path(__file__).with_name("orphan_parent.py")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_the_child_dies_when_the_daemon_is_sigkilled() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, str(PARENT), stdout=asyncio.subprocess.PIPE
    )
    child_pid: int | None = None
    try:
        assert parent.stdout is not None
        async with asyncio.timeout(30):
            line = (await parent.stdout.readline()).decode()
        assert line.startswith("child_pid="), f"the parent said {line!r}"
        child_pid = int(line.removeprefix("child_pid="))
        assert not is_gone(child_pid)
        # The child leads its own session: a signal to the daemon's group would not reach it.
        assert os.getpgid(child_pid) == child_pid != os.getpgid(parent.pid)

        parent.send_signal(signal.SIGKILL)  # no clean-up code runs in the parent
        await parent.wait()

        pid = child_pid
        await wait_for(lambda: is_gone(pid), timeout=10, what=f"orphan {pid} to die")
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
        if child_pid is not None:
            kill_if_alive(child_pid)
