"""`autosrectl claude` end to end: it wakes a sleeping model, then the real Claude Code it
becomes talks to the daemon with the base URL, token and label that autosrectl chose, and
compacts in time on a model with a small context window."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.claude.support import (
    CLAUDE,
    MODEL,
    TITLE_SPEC,
    requires_claude_code,
    run_headless,
    scratch_env,
)
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


# Claude Code 2.1.197's first request here is 29,691 of the simulator's tokens (system prompt
# and tools); a file of `" abc" * 6000` is 6,000 tokens both for the simulator and for Claude
# Code's own estimate (4 characters a token), and 24,000 characters stay under Bash's output
# limit (30,000). With max_model_len 65,536 autosrectl makes Claude Code compact at 54,722
# (83.5%): three files read (~47.7k) stay below that, four more (~71.7k) would not fit.
SMALL_WINDOW = 65_536
FILE_TEXT = " abc" * 6000
SUMMARY_MATCH = "create a detailed summary"
"""The instruction of Claude Code's compaction request."""


def _reads(first: int, count: int) -> dict[str, Any]:
    return {
        "tool_calls": [
            {"name": "Bash", "arguments": {"command": f"cat f{i}.txt", "description": "read"}}
            for i in range(first, first + count)
        ]
    }


async def _session_on_a_small_window(tmp_path: Path, **env: str) -> list[dict[str, Any]]:
    """`autosrectl claude -p` reading seven files in two turns on a 65,536-token model; the
    chat completions the model server received, in order."""
    recipe = sim_recipe(
        aliases=["claude-*"],
        claude_label=MODEL,
        max_model_len=SMALL_WINDOW,
        sim_args=["--max-model-len", str(SMALL_WINDOW)],
    )
    daemon_dir = tmp_path / "daemon"
    daemon_dir.mkdir(parents=True)
    project = tmp_path / "project"
    project.mkdir()
    for index in range(7):
        (project / f"f{index}.txt").write_text(FILE_TEXT)
    async with running_daemon(daemon_dir, base_config(daemon_dir, [recipe])) as daemon:
        code, lines = await daemon.admin(
            "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
        )
        assert code == 200 and lines[-1].get("ok"), lines
        sim_url = str((await daemon.model("sim"))["endpoint"]).rstrip("/")
        script = [
            TITLE_SPEC,
            {"match": SUMMARY_MATCH, "text": "<summary>Seven files were read.</summary>"},
            _reads(0, 3),
            _reads(3, 4),
            {"text": "done"},
        ]
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{sim_url}/sim/script", json=script) as response:
                assert response.status == 200, await response.text()
        child_env = scratch_env(tmp_path / "home", **env)
        child_env["PATH"] = f"{CLAUDE.parent}{os.pathsep}{child_env['PATH']}"
        command = [sys.executable, "-m", "autosred.ctl", "--socket", str(daemon.admin_socket)]
        # --no-mcp: the sizes above are Claude Code's own, without the daemon's MCP tools.
        claude_args = ["--no-mcp", "-p", "Read the files.", "--allowedTools", "Bash"]
        claude_args += ["--output-format", "json"]
        run = await run_headless(
            [*command, "claude", *claude_args],
            cwd=project,
            env=child_env,
        )
        assert run.rc == 0, run
        assert run.json()["result"] == "done"
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{sim_url}/sim/requests", params={"path": "/v1/chat/completions"}
            ) as response:
                records = await response.json()
    return [r for r in records if isinstance(r["body"], dict) and r["body"].get("tools")]


def _is_summary(record: dict[str, Any]) -> bool:
    return SUMMARY_MATCH in json.dumps(record["body"]["messages"][-1])


async def test_a_small_context_window_compacts_before_the_prompt_is_too_long(
    tmp_path: Path,
) -> None:
    turns = await _session_on_a_small_window(tmp_path / "a")
    # Claude Code compacted on its own, before the second batch of files was sent...
    assert [_is_summary(r) for r in turns] == [False, False, True, False], turns
    # ...so the model server never had to refuse a prompt: every one fitted.
    assert [r["http_status"] for r in turns] == [200] * 4
    assert all(r["prompt_tokens"] < SMALL_WINDOW for r in turns)

    # The same session with Claude Code's own 200k window (the user's setting, which
    # autosrectl keeps): the third request is too long, and only the refusal makes it compact.
    default = await _session_on_a_small_window(
        tmp_path / "b", CLAUDE_CODE_AUTO_COMPACT_WINDOW="200000"
    )
    assert [_is_summary(r) for r in default] == [False, False, False, True, False], default
    refused = default[2]
    assert refused["http_status"] == 400
    assert refused["prompt_tokens"] > SMALL_WINDOW
