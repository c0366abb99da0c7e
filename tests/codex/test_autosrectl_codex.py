"""`autosrectl codex` end to end: it wakes a sleeping model, then the real Codex it becomes
talks to the daemon through the provider autosrectl wrote, and keeps its session where the
user's own Codex (and `autosrectl codex exec resume`) finds it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.codex.support import CODEX, requires_codex, run_headless, user_texts
from tests.support.daemon import base_config, running_daemon, sim_recipe

pytestmark = requires_codex


async def test_autosrectl_codex_wakes_the_model_and_runs_codex(tmp_path: Path) -> None:
    answer = "Hello from the model autosrectl woke up."
    recipe = sim_recipe(startup_delay=0.5, aliases=["gpt-*"])
    daemon_dir = tmp_path / "daemon"
    daemon_dir.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    async with running_daemon(daemon_dir, base_config(daemon_dir, [recipe])) as daemon:
        assert (await daemon.model("sim"))["state"] == "stopped"
        # Only the pinned Codex on PATH, a HOME with no Codex config at all, no token:
        # autosrectl writes the provider and sets the rest.
        env = {
            "PATH": f"{CODEX.parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "LANG": "C.UTF-8",
        }
        command = [sys.executable, "-m", "autosred.ctl", "--socket", str(daemon.admin_socket)]
        # The sim is asleep, so its reply is scripted in the prompt (a `#sim` line).
        prompt = f"Say hello.\n#sim {json.dumps({'text': answer})}"
        run = await run_headless(
            [*command, "codex", "exec", "--skip-git-repo-check", prompt], cwd=work, env=env
        )

        assert run.rc == 0, run
        assert run.out == answer + "\n"  # stdout is Codex's answer alone
        assert "sim: ready (waited" in run.err  # the progress went to stderr
        assert "provider: autosred" in run.err
        assert "model: gpt-5.5" in run.err  # the daemon resolves it through gpt-*

        model = await daemon.model("sim")
        assert model["state"] == "ready"
        records = await _sim_requests(model["endpoint"])
        assert len(records) == 1
        assert records[0]["status"] == "completed"
        assert records[0]["body"]["model"] == "sim-served"
        # Codex was offered apply_patch: it knew the model name.
        tools = [tool["function"]["name"] for tool in records[0]["body"]["tools"]]
        assert "apply_patch" in tools

        # The session went to the user's own ~/.codex/sessions (through the link) ...
        sessions = list((home / ".codex" / "sessions").rglob("rollout-*.jsonl"))
        assert len(sessions) == 1
        # ... so a second `autosrectl codex`, with a new CODEX_HOME, resumes it.
        follow_up = f"And again.\n#sim {json.dumps({'text': 'Hello again.'})}"
        resumed = await run_headless(
            [*command, "codex", "exec", "--skip-git-repo-check", "resume", "--last", follow_up],
            cwd=work,
            env=env,
        )
        assert resumed.rc == 0, resumed
        assert resumed.out == "Hello again.\n"
        records = await _sim_requests(model["endpoint"])
        assert len(records) == 2
        texts = user_texts(records[1]["body"])
        assert texts[-1].startswith("And again.")
        assert any(text.startswith("Say hello.") for text in texts)
        assert any(
            message["role"] == "assistant" and message.get("content") == answer
            for message in records[1]["body"]["messages"]
        )


async def _sim_requests(endpoint: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{endpoint}/sim/requests", params={"path": "/v1/chat/completions"}
        ) as response:
            records = await response.json()
    assert isinstance(records, list)
    return records
