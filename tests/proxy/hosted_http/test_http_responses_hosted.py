"""Codex's hosted ``web_search`` on /v1/responses through the real daemon (docs/conformance.md,
cases 92-94; the README's contract row): the official openai SDK's stream accumulator and the
non-streaming answer, searches through the SearXNG backend (the package's local fake), the
offline mode, the metrics and the history sent back the way Codex sends it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from openai.types.responses import ResponseFunctionWebSearch
from openai.types.responses.response_function_web_search import ActionSearch

from tests.proxy.anthropic_http.support import Api as MessagesApi
from tests.proxy.hosted_http.conftest import Web
from tests.proxy.hosted_http.test_http_hosted_flow import frames
from tests.proxy.responses.http.support import Api, body, sim
from tests.proxy.responses.resp_helpers import check_lifecycle
from tests.support.daemon import metric_value

pytestmark = pytest.mark.asyncio(loop_scope="package")

SEARCH = {"type": "web_search"}


@pytest_asyncio.fixture(loop_scope="package")
async def codex(api: MessagesApi) -> AsyncIterator[Api]:
    """The package's daemon as Codex talks to it (its own client token, ``codex``)."""
    yield Api(api.daemon, api.session)


def searching(query: str, answer: str = "Found it.") -> str:
    return sim(
        tool_calls=[{"name": "web_search", "arguments": {"query": query}}],
        then=[{"text": answer}],
    )


async def upstream_bodies(api: Api, request_id: str) -> list[dict[str, Any]]:
    """Every chat request the daemon sent the model for ``request_id``, in order."""
    return [
        record["body"]
        for record in await api.sim_records()
        if any(
            k.lower() == "x-request-id" and v == request_id for k, v in record["headers"].items()
        )
    ]


def search_item(output: list[Any]) -> ResponseFunctionWebSearch:
    item = output[0]
    assert isinstance(item, ResponseFunctionWebSearch), output
    return item


async def test_contract_web_search_is_a_completed_web_search_call_with_its_query(
    codex: Api, web_sites: Web
) -> None:
    streamed = await codex.stream(body(searching("hosted fetch"), tools=[SEARCH]))
    assert streamed.status == 200 and streamed.error is None
    final = streamed.final
    assert [item.type for item in final.output] == ["web_search_call", "message"]
    search = search_item(final.output)
    assert search.id.startswith("ws_") and search.status == "completed"
    assert isinstance(search.action, ActionSearch) and search.action.query == "hosted fetch"
    assert final.output_text == "Found it."
    kinds = [p["type"] for p in streamed.payloads]
    at = kinds.index("response.web_search_call.in_progress")
    assert kinds[at - 1 : at + 4] == [
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
    ]
    assert web_sites.searxng.queries[-1]["q"] == "hosted fetch"
    # The model's second round read the results (title and URL of the SearXNG hit).
    bodies = await upstream_bodies(codex, streamed.request_id)
    assert len(bodies) == 2
    tool = bodies[1]["messages"][-1]
    assert tool["role"] == "tool" and web_sites.site.url("/article") in tool["content"]
    assert "Hosted fetch article" in tool["content"]


async def test_non_streaming_answers_the_same_items_with_sources(
    codex: Api, web_sites: Web
) -> None:
    reply, _ = await codex.create(
        body(
            searching("with sources"),
            tools=[SEARCH],
            include=["web_search_call.action.sources"],
        )
    )
    assert reply.status == "completed"
    search = search_item(reply.output)
    assert isinstance(search.action, ActionSearch) and search.action.sources is not None
    assert [source.url for source in search.action.sources] == [
        web_sites.site.url("/article"),
        "https://docs.example.org/autosred",
    ]
    assert reply.output_text == "Found it."


async def test_offline_search_reads_earlier_results_and_the_metrics_count_it(
    codex: Api, web_sites: Web
) -> None:
    live = await codex.stream(body(searching("remember this"), tools=[SEARCH]))
    assert live.status == 200 and live.error is None
    asked = len(web_sites.searxng.queries)

    def count(outcome: str, text: str) -> float:
        return metric_value(
            text,
            "autosred_hosted_tool_calls_total",
            surface="responses",
            client="codex",
            tool="web_search",
            outcome=outcome,
        )

    before = await codex.daemon.metrics()
    offline = {**SEARCH, "external_web_access": False}
    hit = await codex.stream(body(searching("Remember  THIS"), tools=[offline]))
    miss = await codex.stream(body(searching("never searched"), tools=[offline]))
    after = await codex.daemon.metrics()
    assert len(web_sites.searxng.queries) == asked  # neither reached the web
    assert search_item(hit.final.output).status == "completed"
    assert search_item(miss.final.output).status == "failed"
    tool = (await upstream_bodies(codex, hit.request_id))[1]["messages"][-1]["content"]
    assert web_sites.site.url("/article") in tool
    tool = (await upstream_bodies(codex, miss.request_id))[1]["messages"][-1]["content"]
    assert tool.startswith("Error: no_cached_results")
    assert count("ok", after) == count("ok", before) + 1
    assert count("no_cached_results", after) == count("no_cached_results", before) + 1


async def test_history_sent_back_as_codex_does_is_the_conversation_the_model_saw(
    codex: Api,
) -> None:
    first = await codex.stream(body(searching("replay me"), tools=[SEARCH]))
    assert first.status == 200 and first.error is None
    live = (await upstream_bodies(codex, first.request_id))[-1]["messages"]
    # Codex keeps a web_search_call's id, status and action, and sends them back.
    output = [
        {
            k: v
            for k, v in item.items()
            if k in ("type", "id", "status", "action", "role", "content")
        }
        for item in first.terminal["output"]
    ]
    history = [*body(searching("replay me"))["input"], *output]
    second = await codex.stream(
        body([*history, *body("thanks")["input"]], tools=[SEARCH], store=False)
    )
    assert second.status == 200 and second.error is None
    sent = (await upstream_bodies(codex, second.request_id))[0]["messages"]
    assert sent[: len(live)] == live  # the call and the results, as the model read them
    assert json.loads(sent[len(live) - 2]["tool_calls"][0]["function"]["arguments"]) == {
        "query": "replay me"
    }


async def test_keepalives_while_the_search_runs_keep_the_sequence_numbers_in_order(
    codex: Api, web_sites: Web
) -> None:
    engine = web_sites.searxng
    engine.hold, engine.asked = asyncio.Event(), asyncio.Event()
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(20):
            payload = body(searching("slow"), tools=[SEARCH], stream=True)
            async with codex.session.post(
                codex.url + "/v1/responses", json=payload, headers=codex.headers()
            ) as response:
                assert response.status == 200
                async for _, data in frames(response):
                    seen.append(data)
                    keepalives = [p for p in seen if p["type"] == "response.in_progress"]
                    if engine.asked.is_set() and len(keepalives) > 1:
                        engine.hold.set()  # a keep-alive came while the search ran
    finally:
        engine.hold.set()
        engine.hold = None
    final = check_lifecycle(seen)  # sequence numbers 0, 1, 2 … in the order sent
    kinds = [p["type"] for p in seen]
    assert kinds.index("response.in_progress", 2) < kinds.index("response.output_item.added")
    assert [item["type"] for item in final["output"]] == ["web_search_call", "message"]
