"""Claude Code's own WebSearch through `autosrectl claude`, answered by the daemon's hosted
``web_search`` over a SearXNG on loopback, offline from any vendor host.

How Claude Code 2.1.197 searches: the main loop's model calls the ``WebSearch`` tool; Claude
Code then sends a helper request of its own to ``/v1/messages`` (system "You are an assistant
for performing a web search tool use", one user message "Perform a web search for the query:
Q", no tools of its own but the hosted ``{"type": "web_search_20250305", "name":
"web_search", "max_uses": 8}``, ``tool_choice`` forcing ``web_search``, thinking disabled)
and reads the ``server_tool_use`` / ``web_search_tool_result`` blocks of the streamed answer.
It gives the main loop the results' titles and URLs (and the helper model's text) as
WebSearch's tool_result.

Here the simulated model is scripted for both: the main loop calls WebSearch, the helper
request's model (the daemon offers it ``web_search`` as a function) calls ``web_search
{"query": …}``, the daemon searches through its SearXNG backend (a SearXNG-speaking server on
loopback), streams the blocks, and the helper model's second round writes its text. Claude
Code runs with every outside request sent to a proxy that refuses and records them.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.claude.support import (
    CLAUDE,
    MODEL,
    REPO,
    TITLE_SPEC,
    ClaudeRun,
    last_user_text,
    requires_claude_code,
    run_headless,
    scratch_env,
)
from tests.support.daemon import Daemon, base_config, metric_value, running_daemon, sim_recipe
from tests.support.recordingrelay import recording_relay
from tests.support.refusingproxy import RefusingProxy, refusing_proxy
from tests.web.search.searxng_fake import Searxng, result, searxng

pytestmark = requires_claude_code

QUERY = "grey heron ringing codes"
PROMPT = "How are herons ringed? Search the web."
HELPER_TEXT_START = "Perform a web search for the query: "
"""How Claude Code's helper request (querySource web_search_tool) begins its one user message."""
HELPER_MATCH = "^" + HELPER_TEXT_START
CAPTURE_DIR = REPO / "tests" / "data" / "captures" / "claude" / "hosted" / "21_websearch.bodies"
"""The helper request, as the daemon received it (the checklist replays it, case 91)."""
HELPER_SYSTEM = "You are an assistant for performing a web search tool use"
HELPER_TEXT = "Two pages about heron rings came up."
ANSWER = "Herons are ringed with coded leg rings."
RESULTS = [
    ("https://birds.example/heron-rings", "Reading heron leg rings", "Each ring has a code."),
    ("https://ringing.example/grey-heron", "Grey heron ringing scheme", "Since 1909."),
]


@dataclass
class Setup:
    daemon: Daemon
    sim_url: str
    search: Searxng
    proxy: RefusingProxy


@asynccontextmanager
async def websearch_setup(tmp_path: Path) -> AsyncIterator[Setup]:
    recipe = sim_recipe(aliases=["claude-*"], claude_label=MODEL)
    daemon_dir = tmp_path / "daemon"
    daemon_dir.mkdir()
    async with searxng() as search, refusing_proxy() as proxy:
        search.results = [result(url, title, snippet) for url, title, snippet in RESULTS]
        # hosted_tools.web_search follows mcp.search: on, through SearXNG.
        mcp = {"search": {"backend": "searxng", "searxng_url": search.url}}
        async with running_daemon(daemon_dir, base_config(daemon_dir, [recipe], mcp=mcp)) as daemon:
            code, lines = await daemon.admin(
                "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
            )
            assert code == 200 and lines[-1].get("ok"), lines
            sim_url = str((await daemon.model("sim"))["endpoint"]).rstrip("/")
            yield Setup(daemon, sim_url, search, proxy)


async def _script(sim_url: str, *replies: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sim_url}/sim/script", json=[TITLE_SPEC, *replies]) as response:
            assert response.status == 200, await response.text()


async def _sim_requests(sim_url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{sim_url}/sim/requests", params={"path": "/v1/chat/completions"}
        ) as response:
            records = await response.json()
    assert isinstance(records, list)
    return records


async def _autosrectl_claude(setup: Setup, home: Path, *args: str) -> ClaudeRun:
    project = home.parent / f"{home.name}-project"
    project.mkdir(parents=True)
    env = scratch_env(
        home,
        # Every request to a host outside loopback goes to the refusing proxy; the daemon
        # is on loopback and reached directly.
        HTTPS_PROXY=setup.proxy.url,
        HTTP_PROXY=setup.proxy.url,
        NO_PROXY="127.0.0.1,localhost",
    )
    env["PATH"] = f"{CLAUDE.parent}{os.pathsep}{env['PATH']}"
    command = [sys.executable, "-m", "autosred.ctl", "--socket", str(setup.daemon.admin_socket)]
    # --no-mcp: Claude Code's own WebSearch, not the daemon's search tool.
    return await run_headless(
        [*command, "claude", "--no-mcp", *args, "--output-format", "json"], cwd=project, env=env
    )


def _helper_script() -> dict[str, Any]:
    """The helper request's model: search (round 1), then say what it found (round 2)."""
    return {
        "match": HELPER_MATCH,
        "tool_calls": [{"name": "web_search", "arguments": {"query": QUERY}}],
        "then": [{"text": HELPER_TEXT}],
    }


@dataclass
class Searched:
    """One `autosrectl claude -p` run whose main loop called WebSearch once."""

    result: dict[str, Any]
    """Claude Code's ``--output-format json`` result object."""
    helper: list[dict[str, Any]]
    """The chat bodies the daemon sent the model for the helper request, round by round."""
    tool_result: str
    """WebSearch's tool_result in the main loop's second request (as JSON text)."""


async def _websearch(setup: Setup, home: Path, arguments: dict[str, Any]) -> Searched:
    """Run Claude Code with the main loop's model calling ``WebSearch(arguments)``, then
    answering ANSWER; check what every such run must show."""
    await _script(
        setup.sim_url,
        _helper_script(),
        {"tool_calls": [{"name": "WebSearch", "arguments": arguments}]},
        {"text": ANSWER},
    )
    run = await _autosrectl_claude(setup, home, "-p", PROMPT, "--allowedTools", "WebSearch")
    assert run.rc == 0, run
    result_object = run.json()
    assert result_object["is_error"] is False, result_object
    assert result_object["result"] == ANSWER
    # Not one request left loopback.
    assert setup.proxy.asked == []

    records = await _sim_requests(setup.sim_url)
    helper = [r for r in records if last_user_text(r["body"]).startswith(HELPER_TEXT_START)]
    # Two rounds of one helper answer: the forced search, then the text after its result.
    assert len(helper) == 2, records
    assert all(r["http_status"] == 200 for r in records), records
    # The main loop: WebSearch called, then its tool_result in the next request.
    turns = [r for r in records if r not in helper and r["body"].get("tools")]
    assert len(turns) == 2, turns
    (tool_message,) = [m for m in turns[1]["body"]["messages"] if m["role"] == "tool"]
    content = json.dumps(tool_message["content"])
    assert f'Web search results for query: \\"{QUERY}\\"' in content
    return Searched(result_object, [r["body"] for r in helper], content)


async def _hosted_calls(daemon: Daemon, outcome: str) -> float:
    return metric_value(
        await daemon.metrics(),
        "autosred_hosted_tool_calls_total",
        surface="anthropic",
        tool="web_search",
        outcome=outcome,
    )


async def test_websearch_is_answered_by_the_daemon_with_no_vendor_request(tmp_path: Path) -> None:
    async with websearch_setup(tmp_path) as setup:
        searched = await _websearch(setup, tmp_path / "home", {"query": QUERY})
        # Claude Code counted the search from the usage the daemon reported
        # (usage.server_tool_use.web_search_requests).
        assert searched.result["modelUsage"][MODEL]["webSearchRequests"] == 1, searched.result
        # The daemon searched once, through SearXNG, with the model's query.
        assert [query.get("q") for query in setup.search.queries] == [QUERY]

        first, second = searched.helper
        # Claude Code puts its SDK identity line before the helper's own system prompt.
        assert first["messages"][0]["role"] == "system"
        assert first["messages"][0]["content"].endswith(HELPER_SYSTEM)
        # The hosted tool is offered to the model as a function, and Claude Code's forcing
        # tool_choice holds for the first round only.
        (function,) = first["tools"]
        assert function["type"] == "function"
        assert function["function"]["name"] == "web_search"
        assert function["function"]["parameters"]["required"] == ["query"]
        assert first["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
        assert second["tool_choice"] == "auto"
        # The second round carries the search as the model made it and its results.
        call, answer = second["messages"][-2:]
        assert call["role"] == "assistant"
        assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"query": QUERY}
        assert answer["role"] == "tool" and answer["tool_call_id"] == call["tool_calls"][0]["id"]
        for url, title, snippet in RESULTS:
            assert url in answer["content"] and title in answer["content"]
            assert snippet in answer["content"]

        # WebSearch's tool_result in the main loop carries the results' titles and URLs and
        # the helper model's text, as Claude Code builds them from the blocks.
        assert "Links: " in searched.tool_result
        for url, title, _snippet in RESULTS:
            assert url in searched.tool_result and title in searched.tool_result
        assert HELPER_TEXT in searched.tool_result
        assert await _hosted_calls(setup.daemon, "ok") == 1


async def test_websearch_allowed_domains_reach_the_hosted_tool(tmp_path: Path) -> None:
    """WebSearch's ``allowed_domains`` go into the hosted tool Claude Code sends: the model is
    told which domains it has, and only their results come back."""
    async with websearch_setup(tmp_path) as setup:
        arguments = {"query": QUERY, "allowed_domains": ["birds.example"]}
        searched = await _websearch(setup, tmp_path / "home", arguments)
        first, second = searched.helper
        (function,) = first["tools"]
        assert "birds.example" in function["function"]["description"]
        (kept_url, kept_title, _), (left_url, left_title, _) = RESULTS
        assert kept_url in second["messages"][-1]["content"]
        assert left_url not in second["messages"][-1]["content"]
        assert kept_url in searched.tool_result and kept_title in searched.tool_result
        assert left_url not in searched.tool_result and left_title not in searched.tool_result
        assert [query.get("q") for query in setup.search.queries] == [QUERY]


async def test_a_refused_search_reaches_the_main_loop_as_its_error_code(tmp_path: Path) -> None:
    """SearXNG's limiter refuses (429): the helper answer's web_search_tool_result is the
    error code, the helper model reads what it means, and Claude Code puts ``Web search
    error: too_many_requests`` in WebSearch's result."""
    async with websearch_setup(tmp_path) as setup:
        setup.search.limited = True
        searched = await _websearch(setup, tmp_path / "home", {"query": QUERY})
        assert len(setup.search.queries) == 1
        answer = searched.helper[1]["messages"][-1]
        assert answer["role"] == "tool" and "too_many_requests" in answer["content"]
        assert "Web search error: too_many_requests" in searched.tool_result
        assert all(url not in searched.tool_result for url, _, _ in RESULTS)
        assert HELPER_TEXT in searched.tool_result
        assert await _hosted_calls(setup.daemon, "too_many_requests") == 1
        assert await _hosted_calls(setup.daemon, "ok") == 0


def _stable(body: dict[str, Any]) -> dict[str, Any]:
    """A helper request's body without what changes from run to run: the billing header's
    hash suffix and the ids in ``metadata.user_id``."""
    out = copy.deepcopy(body)
    billing = out["system"][0]
    billing["text"] = re.sub(r"(cc_version=[0-9.]+)\.[0-9a-f]+;", r"\1.xxx;", billing["text"])
    out["metadata"] = {"user_id": "…"}
    return out


async def test_the_helper_request_claude_code_sends_is_the_captured_one(tmp_path: Path) -> None:
    """The checklist replays a captured helper request (case 91,
    tests/proxy/hosted_http/test_http_hosted_capture.py): it is the one the pinned Claude Code
    sends today. Claude Code runs straight at the daemon through a recording relay here
    (``autosrectl claude`` points it at the daemon itself), and the two are compared.
    ``AUTOSRED_WRITE_CAPTURES=1`` writes the capture anew (after a change of the pin)."""
    async with websearch_setup(tmp_path) as setup, recording_relay(setup.daemon.api_url) as relay:
        await _script(
            setup.sim_url,
            _helper_script(),
            {"tool_calls": [{"name": "WebSearch", "arguments": {"query": QUERY}}]},
            {"text": ANSWER},
        )
        project = tmp_path / "project"
        project.mkdir()
        env = scratch_env(
            tmp_path / "home",
            ANTHROPIC_BASE_URL=relay.url,
            ANTHROPIC_AUTH_TOKEN="x",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            HTTPS_PROXY=setup.proxy.url,
            HTTP_PROXY=setup.proxy.url,
            NO_PROXY="127.0.0.1,localhost",
        )
        command = [str(CLAUDE), "-p", PROMPT, "--model", MODEL, "--allowedTools", "WebSearch"]
        run = await run_headless([*command, "--output-format", "json"], cwd=project, env=env)
        assert run.rc == 0, run
        assert run.json()["result"] == ANSWER
        assert setup.proxy.asked == []
    helpers = [
        (index, record)
        for index, record in enumerate(relay.records, 1)
        if HELPER_TEXT_START in record["body"]
    ]
    assert len(helpers) == 1, [record["body"][:200] for record in relay.records]
    index, record = helpers[0]
    if os.environ.get("AUTOSRED_WRITE_CAPTURES") == "1":
        CAPTURE_DIR.mkdir(parents=True, exist_ok=True)
        for old in CAPTURE_DIR.glob("*.json"):
            old.unlink()
        path = CAPTURE_DIR / f"{index:03d}_POST_v1_messages.json"
        path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (captured_path,) = CAPTURE_DIR.glob("*.json")
    captured = json.loads(captured_path.read_text(encoding="utf-8"))
    sent_to = (record["method"], record["path"], record["query"])
    assert sent_to == ("POST", "/v1/messages", "beta=true")
    assert (captured["method"], captured["path"], captured["query"]) == sent_to
    assert _stable(json.loads(record["body"])) == _stable(json.loads(captured["body"]))
    sent = dict(record["headers"])
    assert sent["anthropic-beta"] == dict(captured["headers"])["anthropic-beta"]
