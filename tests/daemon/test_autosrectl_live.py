"""autosrectl against a live daemon: the contract other tools script against."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from tests.support.ctl import autosrectl
from tests.support.daemon import base_config, running_daemon, sim_recipe


async def test_status_json_contract_and_scale_up_down(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe(startup_delay=0.5), sim_recipe("other")])
    async with running_daemon(tmp_path, config) as daemon:
        socket = str(daemon.admin_socket)
        code, out, err = await autosrectl("--socket", socket, "status", "--json")
        assert code == 0, err
        status = json.loads(out)
        assert status["version"]
        assert [(m["name"], m["state"]) for m in status["models"]] == [
            ("sim", "stopped"),
            ("other", "stopped"),
        ]

        code, out, err = await autosrectl("--socket", socket, "scale", "up", "sim", "--wait")
        assert code == 0, err
        model = await daemon.model("sim")
        assert model["state"] == "ready"
        assert model["idle_in_seconds"] is not None and model["idle_in_seconds"] > 500

        code, out, err = await autosrectl("--socket", socket, "--json", "status")
        assert code == 0, err
        states = {m["name"]: m["state"] for m in json.loads(out)["models"]}
        assert states == {"sim": "ready", "other": "stopped"}

        code, out, err = await autosrectl("--socket", socket, "scale", "down", "sim", "--wait")
        assert code == 0, err
        assert (await daemon.model("sim"))["state"] == "stopped"

        code, out, err = await autosrectl("--socket", socket, "scale", "up", "nope")
        assert code == 1
        assert "nope" in err and "sim" in err and "other" in err


async def test_scale_up_wait_reports_a_failed_wake(tmp_path: Path) -> None:
    recipe = sim_recipe(sim_args=["--fail-start", "weights not found"])
    async with running_daemon(tmp_path, base_config(tmp_path, [recipe])) as daemon:
        code, _, err = await autosrectl(
            "--socket", str(daemon.admin_socket), "scale", "up", "sim", "--wait"
        )
        assert code == 1
        assert "weights not found" in err


async def test_reload_through_autosrectl_rejects_a_broken_config(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [sim_recipe()])) as daemon:
        daemon.config_path.write_text("recipes: [{name: x, wake_budget: never}]\n")
        code, out, err = await autosrectl("--socket", str(daemon.admin_socket), "reload")
        assert code == 1
        assert "wake_budget" in out + err
        assert [m["name"] for m in (await daemon.status())["models"]] == ["sim"]


async def test_model_servers_die_with_a_sigkilled_daemon(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [sim_recipe()])) as daemon:
        code, _, err = await autosrectl(
            "--socket", str(daemon.admin_socket), "scale", "up", "sim", "--wait"
        )
        assert code == 0, err
        started = daemon.events_named("engine.child_started")
        assert started, daemon.log_path.read_text()
        child = int(started[-1]["pid"])
        os.kill(child, 0)  # alive now
        daemon.process.send_signal(signal.SIGKILL)
        await daemon.wait_exit()
        async with asyncio.timeout(10):
            while Path(f"/proc/{child}").exists() and "Z" not in _state(child):
                await asyncio.sleep(0.05)


def _state(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.split()[1]
    except OSError:
        pass
    return "Z"
