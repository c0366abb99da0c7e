"""A recipe command wrapped in a shell leaves nothing running, however the daemon ends: the
real daemon, a `sh -c '… & sleep … & wait'` recipe, SIGKILL (or a stop) from outside."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.support.ctl import autosrectl
from tests.support.daemon import SIM_COMMAND, Daemon, base_config, running_daemon, sim_recipe
from tests.support.processes import group_members, kill_group, until_empty

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_a_killed_reaper_takes_its_command_along(tmp_path: Path) -> None:
    """Should the reaper itself be SIGKILLed (the OOM killer, a careless kill of the logged
    pid), the command it runs gets its death signal instead of living on as an orphan."""
    config = base_config(tmp_path, [sim_recipe("plain")])
    pgid = 0
    try:
        async with running_daemon(tmp_path, config) as daemon:
            code, out, err = await autosrectl(
                "--socket", str(daemon.admin_socket), "scale", "up", "plain", "--wait"
            )
            assert code == 0, out + err
            pgid = int(daemon.events_named("engine.child_started")[0]["pid"])
            # The reaper's own command line holds the command's, so it is told apart by pid.
            members = group_members(pgid)
            assert any("autosred.sim" in cmd for pid, cmd in members.items() if pid != pgid)
            os.kill(pgid, signal.SIGKILL)  # the reaper alone: it leads the group
            await until_empty(pgid, timeout=10)
    finally:
        if pgid:
            kill_group(pgid)
