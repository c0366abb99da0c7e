"""Codex's own web search, run by the daemon: the real Codex CLI with ``web_search = "live"``
offers the hosted ``web_search`` tool, the simulated model calls it, the daemon searches a
local SearXNG inside the same response and streams a ``web_search_call`` item, and the model's
answer, written with the result in its context, is Codex's final answer (docs/conformance.md,
case 94)."""

from __future__ import annotations

from pathlib import Path

from tests.codex.support import CodexEnv, codex_env, requires_codex, tool_names
from tests.web.search.searxng_fake import result, searxng

pytestmark = requires_codex

RESULT_URL = "https://herons.example.org/grey-heron"
RESULT_TITLE = "Grey heron - the patient fisher"


def web_search_mode(env: CodexEnv, mode: str) -> None:
    """``web_search = MODE`` at the top of Codex's config.toml (a top-level key)."""
    config = env.home / ".codex" / "config.toml"
    config.write_text(f'web_search = "{mode}"\n' + config.read_text())


async def test_codex_shows_the_daemons_web_search_and_answers_with_its_result(
    tmp_path: Path,
) -> None:
    async with searxng() as engine:
        engine.results = [result(RESULT_URL, RESULT_TITLE, "Herons stand still for hours.")]
        search = {"backend": "searxng", "searxng_url": engine.url}
        async with codex_env(tmp_path, mcp={"search": search}) as env:
            web_search_mode(env, "live")
            answer = "Per herons.example.org, grey herons stand still for hours."
            await env.script(
                {"tool_calls": [{"name": "web_search", "arguments": {"query": "grey heron"}}]},
                {"text": answer},
            )
            run = await env.codex("--json", prompt="How do grey herons fish?")
            assert run.rc == 0, run

            # What Codex showed: the search (its query) and the answer.
            searches = run.items("web_search")
            assert len(searches) == 1, run.events()
            assert searches[0]["query"] == "grey heron"
            messages = run.items("agent_message")
            assert messages[-1]["text"] == answer

            # The daemon searched once, and the model's second round read the result.
            assert [query["q"] for query in engine.queries] == ["grey heron"]
            records = await env.sim_requests()
            assert len(records) == 2, [r["body"]["messages"][-1] for r in records]
            assert "web_search" in tool_names(records[0]["body"])
            tool = records[1]["body"]["messages"][-1]
            assert tool["role"] == "tool"
            assert RESULT_URL in tool["content"] and RESULT_TITLE in tool["content"]


async def test_codex_sends_the_search_back_and_the_model_reads_it_again(tmp_path: Path) -> None:
    """After the search the model runs a command: Codex's next request carries its history,
    the ``web_search_call`` item as Codex keeps it, and the daemon gives the model the same
    call and results it read live (from its search memory, by the item's id)."""
    async with searxng() as engine:
        engine.results = [result(RESULT_URL, RESULT_TITLE, "Herons stand still for hours.")]
        search = {"backend": "searxng", "searxng_url": engine.url}
        async with codex_env(tmp_path, mcp={"search": search}) as env:
            web_search_mode(env, "live")
            await env.script(
                {"tool_calls": [{"name": "web_search", "arguments": {"query": "grey heron"}}]},
                {"tool_calls": [{"name": "exec_command", "arguments": {"cmd": "echo noted"}}]},
                {"text": "Herons stand still; noted."},
            )
            run = await env.codex("--json", prompt="Look up grey herons, then echo noted.")
            assert run.rc == 0, run
            assert [item["type"] for item in run.items("web_search")] == ["web_search"]
            assert run.items("command_execution")[0]["exit_code"] == 0
            assert run.items("agent_message")[-1]["text"] == "Herons stand still; noted."

            _, live, replayed = await env.sim_requests()
            seen, sent = live["body"]["messages"], replayed["body"]["messages"]
            # The whole conversation the model read live, byte for byte (so vLLM's prefix
            # cache still matches), then the command and its output.
            assert sent[: len(seen)] == seen
            assert seen[-2]["tool_calls"][0]["function"]["name"] == "web_search"
            assert seen[-1]["role"] == "tool" and RESULT_URL in seen[-1]["content"]
            assert sent[len(seen)]["tool_calls"][0]["function"]["name"] == "exec_command"
            assert len(engine.queries) == 1  # replaying searched nothing


async def test_codex_default_cached_mode_never_reaches_the_web(tmp_path: Path) -> None:
    """Codex's default ``web_search`` mode is ``cached``: it sends ``external_web_access:
    false``, and the daemon answers from this client's earlier live searches only; with none,
    the model reads ``no_cached_results`` and the search engine is never asked."""
    async with searxng() as engine:
        engine.results = [result(RESULT_URL, RESULT_TITLE, "Herons stand still for hours.")]
        search = {"backend": "searxng", "searxng_url": engine.url}
        async with codex_env(tmp_path, mcp={"search": search}) as env:
            await env.script(
                {"tool_calls": [{"name": "web_search", "arguments": {"query": "grey heron"}}]},
                {"text": "I could not search."},
            )
            run = await env.codex("--json", prompt="How do grey herons fish?")
            assert run.rc == 0, run
            assert [item["query"] for item in run.items("web_search")] == ["grey heron"]
            assert run.items("agent_message")[-1]["text"] == "I could not search."
            assert engine.queries == []
            _, second = await env.sim_requests()
            assert second["body"]["messages"][-1]["content"].startswith("Error: no_cached_results")
