"""The real Codex CLI (the version pinned in tests/clients) run headless against the daemon.

How Codex 0.169.0 runs here offline, non-interactively, with no login (found by running it):

- ``codex exec --skip-git-repo-check [--json] PROMPT`` with stdin closed (``stdin=DEVNULL``);
  exec asks nothing (approval ``never``). The flag is needed outside a git repository. It
  still prints "Reading additional input from stdin..." and reads the (empty) stdin;
- ``CODEX_HOME`` a scratch directory whose ``config.toml`` selects a custom model provider
  (``model_provider``) with ``base_url`` = the daemon's codex listener + ``/v1``,
  ``wire_api = "responses"`` (``"chat"`` is rejected) and ``env_key`` naming a variable that
  holds the client token (sent as ``Authorization: Bearer``). No login is needed: a custom
  provider does not ask for OpenAI auth, and nothing is sent to OpenAI's hosts (exec makes
  exactly one ``POST /v1/responses`` per model turn, nothing else);
- ``model = "gpt-5.5"``: Codex shapes its requests by model name, and only for names it has
  metadata for does it offer the ``apply_patch`` custom tool (any other name gets a "Model
  metadata not found" warning and no apply_patch). The recipe's ``gpt-*`` alias routes it;
- ``stream_max_retries`` / ``request_max_retries`` in the provider table: a broken daemon
  fails a test in a second or two instead of Codex's 5 stream retries x 4 HTTP retries
  (about 25 s);
- sandbox: the default ``read-only`` sandbox still runs ``ls`` (Codex uses its bundled
  bubblewrap; it warns that none is on PATH). ``apply_patch`` writes, so that test passes
  ``-s workspace-write`` (the work directory and /tmp become writable);
- ``--json`` prints one JSON event per line (``thread.started``, ``turn.started``,
  ``item.started``/``item.completed`` with ``command_execution``, ``file_change``,
  ``agent_message`` items, ``error`` for a retry, ``turn.completed`` with the usage);
  without it, stdout holds only the final answer and the transcript goes to stderr.

CODEX_HOME lives under the test's tmp_path (below /tmp), so Codex warns that it will not
create its helper commands there ("Refusing to create helper binaries under temporary dir");
that does not matter for these tests. A Codex run takes under half a second; each test,
daemon start included, 1.5-3 s.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import headless
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

REPO = Path(__file__).resolve().parents[2]
CODEX = REPO / "tests" / "clients" / "node_modules" / ".bin" / "codex"
CODEX_VERSION = "0.169.0"
MODEL = "gpt-5.5"
TOKEN_ENV = "AUTOSRE_CLIENT_TOKEN"
STREAM_RETRIES = 2
RUN_TIMEOUT = 90.0

requires_codex = pytest.mark.skipif(
    not CODEX.exists(),
    reason=(
        f"the Codex CLI {CODEX_VERSION} is not installed in tests/clients/node_modules: run "
        "`bash tests/setup/install-test-deps.sh` (make test does)"
    ),
)

CONFIG = """\
model = "{model}"
model_provider = "autosred"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.autosred]
name = "autosred"
base_url = "{base_url}/v1"
env_key = "{token_env}"
wire_api = "responses"
stream_max_retries = {stream_retries}
request_max_retries = 1
"""


@dataclass(frozen=True)
class CodexRun:
    rc: int
    out: str
    err: str

    def events(self) -> list[dict[str, Any]]:
        """The JSON lines of ``codex exec --json``."""
        events = []
        for line in self.out.splitlines():
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except ValueError as exc:
                raise AssertionError(f"not JSON: {line!r} (rc {self.rc})\n{self.err}") from exc
        return events

    def items(self, kind: str) -> list[dict[str, Any]]:
        """The completed items of one type (``agent_message``, ``command_execution``, …)."""
        return [
            event["item"]
            for event in self.events()
            if event["type"] == "item.completed" and event["item"]["type"] == kind
        ]


@dataclass
class CodexEnv:
    """One daemon in front of one awake autosred-sim, a scratch CODEX_HOME and a work dir."""

    daemon: Daemon
    sim_url: str
    home: Path
    work: Path

    async def script(self, *replies: dict[str, Any]) -> None:
        """Replace the sim's script: one reply per chat completion, in order."""
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{self.sim_url}/sim/script", json=list(replies)) as response:
                assert response.status == 200, await response.text()

    async def sim_requests(self) -> list[dict[str, Any]]:
        """Every chat completion the sim received, in order."""
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{self.sim_url}/sim/requests", params={"path": "/v1/chat/completions"}
            ) as response:
                assert response.status == 200, await response.text()
                records = await response.json()
        assert isinstance(records, list)
        return records

    async def codex(self, *args: str, prompt: str) -> CodexRun:
        command = [str(CODEX), "exec", "--skip-git-repo-check", *args, prompt]
        return await run_headless(command, cwd=self.work, env=scratch_env(self.home))


def write_config(codex_home: Path, base_url: str) -> None:
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        CONFIG.format(
            model=MODEL, base_url=base_url, token_env=TOKEN_ENV, stream_retries=STREAM_RETRIES
        )
    )


def scratch_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: PATH, a scratch HOME and CODEX_HOME, the client token."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "TMPDIR": str(home / "tmp"),
        TOKEN_ENV: "test-token",
    }
    env.update(extra)
    return env


async def run_headless(command: list[str], *, cwd: Path, env: dict[str, str]) -> CodexRun:
    """Run with stdin closed; kill the whole process group past RUN_TIMEOUT."""
    return CodexRun(*await headless.run_headless(command, cwd=cwd, env=env, timeout=RUN_TIMEOUT))


@contextlib.asynccontextmanager
async def codex_env(tmp_path: Path, **sections: Any) -> AsyncIterator[CodexEnv]:
    """The daemon with one autosred-sim recipe that answers Codex's model names (``gpt-*``),
    woken up front so that the test can script the sim before Codex starts; ``sections``:
    more of the daemon's config (``mcp={…}``)."""
    recipe = sim_recipe(aliases=["gpt-*"])
    daemon_dir = tmp_path / "daemon"
    daemon_dir.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    config = base_config(daemon_dir, [recipe], **sections)
    async with running_daemon(daemon_dir, config) as daemon:
        code, lines = await daemon.admin(
            "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
        )
        assert code == 200 and lines[-1].get("ok"), lines
        endpoint = (await daemon.model("sim"))["endpoint"]
        assert endpoint, "the awake sim has no endpoint"
        write_config(home / ".codex", daemon.codex_url)
        yield CodexEnv(daemon=daemon, sim_url=endpoint.rstrip("/"), home=home, work=work)


def user_texts(body: dict[str, Any]) -> list[str]:
    """The text of every user message of a chat completions body."""
    texts = []
    for message in body["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.append("\n".join(part.get("text", "") for part in content))
    return texts


def tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or []]


def tool_content(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content)
    assert isinstance(content, str)
    return content
