"""`autosrectl claude` end to end: it wakes a sleeping model, then the real Claude Code it
becomes talks to the daemon with the base URL, token and label that autosrectl chose."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import aiohttp

from tests.claude.support import CLAUDE, MODEL, requires_claude_code, run_headless, scratch_env
from tests.support.daemon import base_config, running_daemon, sim_recipe

pytestmark = requires_claude_code


async def test_autosrectl_claude_wakes_the_model_and_runs_claude_code(tmp_path: Path) -> None:
    answer = "Hello from the model autosrectl woke up."
    recipe = sim_recipe(startup_delay=0.5, aliases=["claude-*"], claude_label=MODEL)
    daemon_dir = tmp_path / "daemon"
    daemon_dir.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    async with running_daemon(daemon_dir, base_config(daemon_dir, [recipe])) as daemon:
        assert (await daemon.model("sim"))["state"] == "stopped"
        env = scratch_env(tmp_path / "home")
        # Only the pinned Claude Code on PATH; no ANTHROPIC_* at all: autosrectl sets them.
        env["PATH"] = f"{CLAUDE.parent}{os.pathsep}{env['PATH']}"
        # The sim is asleep, so its reply is scripted in the prompt (a `#sim` line).
        prompt = f"Say hello.\n#sim {json.dumps({'text': answer})}"
        command = [sys.executable, "-m", "autosred.ctl", "--socket", str(daemon.admin_socket)]
        run = await run_headless(
            [*command, "claude", "-p", prompt, "--output-format", "json"], cwd=project, env=env
        )

        assert run.rc == 0, run
        result = run.json()  # stdout is Claude Code's JSON alone: the progress went to stderr
        assert result["is_error"] is False
        assert result["result"] == answer
        assert list(result["modelUsage"]) == [MODEL]
        assert "sim: ready (waited" in run.err

        model = await daemon.model("sim")
        assert model["state"] == "ready"
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{model['endpoint']}/sim/requests", params={"path": "/v1/chat/completions"}
            ) as response:
                records = await response.json()
        turns = [r for r in records if r["body"].get("tools")]
        assert len(turns) == 1
        assert turns[0]["status"] == "completed"
        assert turns[0]["body"]["model"] == "sim-served"
