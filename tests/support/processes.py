"""Processes seen through /proc: the members of a process group, and a model server's crash.

The process engine starts each model server under a reaper that leads its own process group
(autosred/engines/reaper.py); ``engine.child_started`` logs that group's id as ``pid``.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path


def group_members(pgid: int) -> dict[int, str]:
    """pid -> command line of every live process in the group (zombies are dead)."""
    members = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != b"Z":
            members[int(entry)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return members


async def until_empty(pgid: int, *, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while group_members(pgid):
            await asyncio.sleep(0.05)


def kill_group(pgid: int) -> None:
    for pid in group_members(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def crash_server(pgid: int, *, timeout: float = 10.0) -> None:
    """SIGKILL a model server's whole group (a crash under the daemon, as the OOM killer
    would do it) and return once none of it lives, so its port refuses connections."""
    kill_group(pgid)
    await until_empty(pgid, timeout=timeout)
