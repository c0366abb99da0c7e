"""Reply scripts: order, last one repeating, `match` specs, directives first, runtime swap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from autosred.sim import SimConfig, SimHandle, running_sim
from autosred.sim.replies import SpecError, load_script_file, load_script_text

from .helpers import directive, user

SCRIPT_YAML = """
- match: "(?i)weather"
  text: "Sunny, always."
- text: "first"
- text: "second"
  chunk_size: 2
- tool_calls:
    - name: finish
      arguments: {ok: true}
"""


async def _reply(http: aiohttp.ClientSession, sim: SimHandle, text: str) -> dict[str, Any]:
    async with http.post(sim.url + "/v1/chat/completions", json={"messages": user(text)}) as r:
        assert r.status == 200, await r.text()
        message: dict[str, Any] = (await r.json())["choices"][0]["message"]
        return message


async def test_script_file_order_match_and_repeat(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT_YAML)
    async with running_sim(SimConfig(script=load_script_file(script))) as sim:
        replies = [
            await _reply(http, sim, "hello"),
            await _reply(http, sim, "What's the WEATHER like?"),
            await _reply(http, sim, "again"),
            await _reply(http, sim, "and again"),
            await _reply(http, sim, "once more"),
            await _reply(http, sim, "weather?"),
        ]
    assert [reply["content"] for reply in replies[:3]] == ["first", "Sunny, always.", "second"]
    for reply in replies[3:5]:  # the last ordered spec repeats
        assert reply["content"] is None
        assert reply["tool_calls"][0]["function"]["name"] == "finish"
        assert json.loads(reply["tool_calls"][0]["function"]["arguments"]) == {"ok": True}
    assert replies[5]["content"] == "Sunny, always."  # match specs are never used up


async def test_directive_beats_script_and_does_not_consume_it(
    http: aiohttp.ClientSession,
) -> None:
    config = SimConfig(script=load_script_text('[{"text": "one"}, {"text": "two"}]'))
    async with running_sim(config) as sim:
        assert (await _reply(http, sim, directive(text="forced")))["content"] == "forced"
        assert (await _reply(http, sim, "x"))["content"] == "one"
        assert (await _reply(http, sim, "x"))["content"] == "two"


async def test_post_sim_script_replaces_it_at_run_time(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    assert (await _reply(http, sim, "hi"))["content"] == "Simulated reply to: hi"
    async with http.post(sim.url + "/sim/script", json=[{"text": "A"}, {"text": "B"}]) as r:
        assert r.status == 200
        assert await r.json() == {"replies": 2}
    assert (await _reply(http, sim, "hi"))["content"] == "A"
    async with http.post(sim.url + "/sim/script", data="- text: C\n") as r:  # YAML works too
        assert r.status == 200
    assert (await _reply(http, sim, "hi"))["content"] == "C"
    async with http.get(sim.url + "/sim/script") as r:
        assert await r.json() == {"replies": [{"text": "C"}], "position": 1}
    async with http.post(sim.url + "/sim/script", json=[{"colour": "red"}]) as r:
        assert r.status == 400
        assert "colour" in (await r.json())["error"]["message"]


def test_bad_scripts_are_rejected_with_the_position() -> None:
    with pytest.raises(SpecError, match=r"#1: chunk_size"):
        load_script_text('[{"text": "ok"}, {"chunk_size": 0}]')
    with pytest.raises(SpecError, match="must be a list"):
        load_script_text('{"text": "not a list"}')
    with pytest.raises(SpecError):
        load_script_text('[{"match": "("}]')
    assert load_script_text("replies:\n  - text: wrapped\n")[0].text == "wrapped"


async def test_then_scripts_the_rounds_of_an_agent_loop(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    spec = {
        "tool_calls": [{"name": "web_search", "arguments": {"query": "q"}, "id": "call_1"}],
        "then": [{"text": "after one"}, {"text": "after more"}],
    }
    messages: list[dict[str, Any]] = [{"role": "user", "content": directive(**spec)}]

    async def reply() -> dict[str, Any]:
        async with http.post(sim.url + "/v1/chat/completions", json={"messages": messages}) as r:
            assert r.status == 200, await r.text()
            message: dict[str, Any] = (await r.json())["choices"][0]["message"]
            return message

    first = await reply()
    assert first["tool_calls"][0]["function"]["name"] == "web_search"
    assert json.loads(first["tool_calls"][0]["function"]["arguments"]) == {"query": "q"}
    messages += [
        {"role": "assistant", "content": "", "tool_calls": first["tool_calls"]},
        {"role": "tool", "tool_call_id": "call_1", "content": "results"},
    ]
    assert (await reply())["content"] == "after one"
    messages += [
        {"role": "assistant", "content": "", "tool_calls": first["tool_calls"]},
        {"role": "tool", "tool_call_id": "call_1", "content": "results"},
    ]
    assert (await reply())["content"] == "after more"
    messages += [{"role": "assistant", "content": "x"}, {"role": "user", "content": "new turn"}]
    assert (await reply())["content"].startswith("Simulated reply to: new turn")
    with pytest.raises(SpecError, match="then"):
        load_script_text('[{"then": [{"bogus": 1}]}]')
