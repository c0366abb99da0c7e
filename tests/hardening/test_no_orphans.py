"""A recipe command wrapped in a shell leaves nothing running, however the daemon ends: the
real daemon, a `sh -c '… & sleep … & wait'` recipe, SIGKILL (or a stop) from outside."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.support.ctl import autosrectl
from tests.support.daemon import SIM_COMMAND, Daemon, base_config, running_daemon

SLEEP = "sleep 1000"


def shell_recipe() -> dict[str, object]:
    """The simulator and a sleeper behind a shell that waits for both: the shell is the
    command's process; the server and the sleeper are its children, not the daemon's."""
    sim = " ".join(SIM_COMMAND)
    return {
        "name": "wrapped",
        "served_model_name": "wrapped",
        "command": ["sh", "-c", f"{sim} & {SLEEP} & wait"],
        "idle_timeout": "10m",
        "wake_budget": "60s",
    }


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


async def woken_group(daemon: Daemon) -> int:
    code, out, err = await autosrectl(
        "--socket", str(daemon.admin_socket), "scale", "up", "wrapped", "--wait"
    )
    assert code == 0, out + err
    started = daemon.events_named("engine.child_started")
    assert len(started) == 1
    pgid = int(started[0]["pid"])
    members = group_members(pgid)
    assert any(SLEEP in cmd for cmd in members.values()), members
    assert any("autosred.sim" in cmd for cmd in members.values()), members
    return pgid


def kill_group(pgid: int) -> None:
    for pid in group_members(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_sigkill_of_the_daemon_leaves_no_process_of_the_group(tmp_path: Path) -> None:
    config = base_config(tmp_path, [shell_recipe()], engine={"stop_timeout": 3})
    pgid = 0
    try:
        async with running_daemon(tmp_path, config) as daemon:
            pgid = await woken_group(daemon)
            daemon.signal(signal.SIGKILL)  # no clean-up code runs in the daemon
            assert await daemon.wait_exit() == -signal.SIGKILL
            # SIGTERM to the group at once; SIGKILL after engine.stop_timeout at the latest.
            await until_empty(pgid, timeout=3 + 10)
    finally:
        if pgid:
            kill_group(pgid)


async def test_scale_down_leaves_no_process_of_the_group(tmp_path: Path) -> None:
    config = base_config(tmp_path, [shell_recipe()])
    pgid = 0
    try:
        async with running_daemon(tmp_path, config) as daemon:
            pgid = await woken_group(daemon)
            code, out, err = await autosrectl(
                "--socket", str(daemon.admin_socket), "scale", "down", "wrapped", "--wait"
            )
            assert code == 0, out + err
            await until_empty(pgid, timeout=10)
    finally:
        if pgid:
            kill_group(pgid)
