"""Real Claude Code (the version pinned in tests/clients) run headless against the daemon.

How Claude Code 2.1.197 runs here offline, non-interactively, with no login prompt (found by
running it; no flag beyond ``-p`` is needed):

- ``claude -p PROMPT --model NAME`` with stdin closed (``stdin=DEVNULL``): print mode reads no
  stdin and never asks anything (no theme, trust or login dialogs; those are interactive only);
- ``ANTHROPIC_BASE_URL`` = the daemon's api listener and ``ANTHROPIC_AUTH_TOKEN`` = any string
  (sent as ``Authorization: Bearer``): with a token in the environment no login is attempted;
- ``HOME`` and ``CLAUDE_CONFIG_DIR`` in a temporary directory: no user settings, sessions,
  MCP servers or credentials leak in, and the first-run state is written there;
- ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` and ``DISABLE_TELEMETRY=1``: no update check,
  telemetry or other calls to Anthropic's hosts (it then sends only ``HEAD /`` and the
  ``POST /v1/messages?beta=true`` requests; sometimes a small "title" request first);
- ``CLAUDE_CODE_MAX_RETRIES=2``: a broken daemon fails a test in seconds instead of Claude
  Code's ten retries over about three minutes (the non-streaming fallback after a broken
  stream is not a retry and is unaffected);
- tools run only when allowed: ``--allowedTools Bash`` (``--dangerously-skip-permissions`` is
  refused for root, which the CI containers are);
- ``--output-format json`` prints one result object (``result``, ``is_error``, ``num_turns``,
  ...); ``--output-format stream-json`` needs ``--verbose`` and prints every message, thinking
  blocks with their signatures included.

A Claude Code run takes under a second here; each test, daemon start included, 1.5-3 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import headless
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

REPO = Path(__file__).resolve().parents[2]
CLAUDE = REPO / "tests" / "clients" / "node_modules" / ".bin" / "claude"
CLAUDE_VERSION = "2.1.197"
MODEL = "claude-sonnet-4-5"
RUN_TIMEOUT = 90.0

requires_claude_code = pytest.mark.skipif(
    not CLAUDE.exists(),
    reason=(
        f"Claude Code {CLAUDE_VERSION} is not installed in tests/clients/node_modules: run "
        "`bash tests/setup/install-test-deps.sh` (make test does)"
    ),
)

# The "title" request Claude Code sometimes sends before a turn (no tools, its own system
# prompt; the user text is wrapped in <session> tags). A match spec answers it without
# consuming the ordered script that the turn's requests use.
TITLE_MATCH = r"</session>\s+Write the title"
TITLE_SPEC: dict[str, Any] = {"match": TITLE_MATCH, "text": '{"title": "Test session"}'}


@dataclass(frozen=True)
class ClaudeRun:
    rc: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        """The single result object of ``--output-format json``."""
        try:
            result = json.loads(self.out)
        except ValueError as exc:
            raise AssertionError(f"not JSON (rc {self.rc}):\n{self.out}\n{self.err}") from exc
        assert isinstance(result, dict)
        return result

    def stream_json(self) -> list[dict[str, Any]]:
        """The lines of ``--output-format stream-json --verbose``."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@dataclass
class ClaudeEnv:
    """One daemon in front of one awake autosred-sim, and a scratch home and project."""

    daemon: Daemon
    sim_url: str
    home: Path
    project: Path

    async def script(self, *replies: dict[str, Any]) -> None:
        """Replace the sim's script (the title request is always answered by TITLE_SPEC)."""
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{self.sim_url}/sim/script", json=[TITLE_SPEC, *replies]
            ) as response:
                assert response.status == 200, await response.text()

    async def sim_requests(self) -> list[dict[str, Any]]:
        """Every chat completion the sim received, in order (the title request included)."""
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{self.sim_url}/sim/requests", params={"path": "/v1/chat/completions"}
            ) as response:
                assert response.status == 200, await response.text()
                records = await response.json()
        assert isinstance(records, list)
        return records

    async def turn_requests(self) -> list[dict[str, Any]]:
        """The requests of the agent's turns: those that carry tools (not the title one)."""
        return [r for r in await self.sim_requests() if not _is_title(r)]

    async def claude(self, *args: str, prompt: str) -> ClaudeRun:
        env = scratch_env(
            self.home,
            ANTHROPIC_BASE_URL=self.daemon.api_url,
            ANTHROPIC_AUTH_TOKEN="x",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        )
        command = [str(CLAUDE), "-p", prompt, "--model", MODEL, *args]
        return await run_headless(command, cwd=self.project, env=env)


def scratch_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for Claude Code: PATH and a scratch home, nothing of the user's."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "TMPDIR": str(home / "tmp"),
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_MAX_RETRIES": "2",
    }
    env.update(extra)
    return env


async def run_headless(command: list[str], *, cwd: Path, env: dict[str, str]) -> ClaudeRun:
    """Run with stdin closed; kill the whole process group past RUN_TIMEOUT."""
    return ClaudeRun(*await headless.run_headless(command, cwd=cwd, env=env, timeout=RUN_TIMEOUT))


def _is_title(record: dict[str, Any]) -> bool:
    body = record["body"]
    if not isinstance(body, dict) or body.get("tools"):
        return False
    return re.search(TITLE_MATCH, json.dumps(body.get("messages"))) is not None


@contextlib.asynccontextmanager
async def claude_env(tmp_path: Path) -> AsyncIterator[ClaudeEnv]:
    """The daemon with one autosred-sim recipe that answers Claude Code's model names,
    woken up front so that the test can script the sim before Claude Code starts."""
    recipe = sim_recipe(aliases=["claude-*"], claude_label=MODEL)
    daemon_dir = tmp_path / "daemon"
    daemon_dir.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    async with running_daemon(daemon_dir, base_config(daemon_dir, [recipe])) as daemon:
        code, lines = await daemon.admin(
            "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
        )
        assert code == 200 and lines[-1].get("ok"), lines
        endpoint = (await daemon.model("sim"))["endpoint"]
        assert endpoint, "the awake sim has no endpoint"
        yield ClaudeEnv(daemon=daemon, sim_url=endpoint.rstrip("/"), home=home, project=project)


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat completions body."""
    for message in reversed(body["messages"]):
        if message["role"] == "user":
            content = message["content"]
            if isinstance(content, str):
                return content
            return "\n".join(part.get("text", "") for part in content)
    return ""
