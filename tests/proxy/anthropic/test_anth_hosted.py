"""Hosted web tools on /v1/messages, sans-IO: the translation, the rounds and the history
(docs/conformance.md, cases 28 and 85-90).

The model's rounds are vLLM chunks fed to the real translator; the hosted tools run through
``HostedRun`` against ``ScriptedWeb``, an in-memory web with the ``HostedWeb`` interface (the
HTTP tests, tests/proxy/anthropic_http/test_http_hosted.py, use the daemon's real one).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.proxy.anthropic import (
    Event,
    MessageStreamTranslator,
    to_chat_request,
    to_tokenize_request,
)
from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.anthropic.hosted import MAX_ROUNDS, HostedMessages
from autosred.proxy.anthropic.message import message_from_events
from autosred.proxy.anthropic.request import HostedSupport
from autosred.proxy.hosted.executor import FetchDone, HostedRun, SearchDone, ToolFailed
from autosred.proxy.hosted.seal import ContentSealer
from autosred.proxy.hosted.tools import HostedTool
from autosred.proxy.hosted.web import WebFailure, WebFailureKind, WebHit, WebPage
from tests.proxy.anthropic.anth_helpers import SIGNER, VIEW, base, check_grammar, shapes
from tests.proxy.chunks import chunk, tool_delta, usage_chunk

SEALER = ContentSealer(b"hosted-test-key-0123456789")
SUPPORT = HostedSupport(frozenset({"web_search", "web_fetch"}), SEALER)
SEARCH = {"type": "web_search_20250305", "name": "web_search"}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}
HITS = [
    WebHit("Autosred docs", "https://docs.example.org/autosred", "A host daemon.", "2026-01-02"),
    WebHit("Blocked page", "https://blocked.example.com/x", "Should be filtered."),
]


class ScriptedWeb:
    """The HostedWeb interface over fixed answers; records what it was asked."""

    def __init__(
        self,
        hits: list[WebHit] | None = None,
        page: WebPage | None = None,
        failure: WebFailureKind | None = None,
    ) -> None:
        self.hits = HITS if hits is None else hits
        self.page = page
        self.failure = failure
        self.asked: list[tuple[str, Any]] = []

    async def search(self, query: str, *, max_results: int, country: str | None) -> list[WebHit]:
        self.asked.append(("search", (query, country)))
        if self.failure is not None:
            raise WebFailure(self.failure, "scripted failure")
        return self.hits[:max_results]

    async def fetch(
        self, url: str, *, host_allowed: Callable[[str], bool] | None = None
    ) -> WebPage:
        self.asked.append(("fetch", url))
        if self.failure is not None:
            raise WebFailure(self.failure, "scripted failure")
        assert self.page is not None
        return self.page


class Rounds:
    """One request: its translation, translator and hosted rounds, fed round by round."""

    def __init__(self, body: dict[str, Any], web: ScriptedWeb) -> None:
        self.chat = to_chat_request(body, recipe_view=VIEW, signer=SIGNER, hosted=SUPPORT)
        self.translator = MessageStreamTranslator.for_request(
            self.chat, signer=SIGNER, message_id="msg_test"
        )
        run = HostedRun(
            self.chat.hosted,
            web,
            log=logging.getLogger("test.hosted"),
            prior_context=json.dumps(body),
        )
        self.hosted = HostedMessages(
            run=run, translator=self.translator, body=self.chat.body, sealer=SEALER
        )
        self.events: list[Event] = []
        self.bodies: list[dict[str, Any]] = [self.chat.body]

    def feed(self, chunks: list[dict[str, Any]]) -> None:
        for item in chunks:
            self.events += self.translator.feed(item)
        self.events += self.translator.close()

    def step(self) -> dict[str, Any] | None:
        assert self.hosted.pending()
        events, body = asyncio.run(self.hosted.step())
        self.events += events
        if body is not None:
            self.bodies.append(body)
        return body

    def message(self) -> dict[str, Any]:
        check_grammar(self.events)
        return message_from_events(self.events)


def call_round(name: str, args: dict[str, Any], *, call_id: str = "call_1") -> list[dict[str, Any]]:
    text = json.dumps(args)
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk(tool_delta(0, id=call_id, name=name, args=text[:5])),
        chunk(tool_delta(0, args=text[5:])),
        chunk(finish="tool_calls"),
        usage_chunk(100, 10),
    ]


def text_round(text: str, prompt: int = 150) -> list[dict[str, Any]]:
    return [chunk({"content": text}), chunk(finish="stop"), usage_chunk(prompt, 5)]


def blocks_of(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [
        e.data["content_block"]
        for e in events
        if e.type == "content_block_start" and e.data["content_block"]["type"] == kind
    ]


# ------------------------------------------------------------------------------ translation


def test_hosted_tools_are_offered_as_functions_and_other_server_tools_removed() -> None:
    body = base(
        tools=[
            {**SEARCH, "max_uses": 3, "allowed_domains": ["example.org"]},
            FETCH,
            {"type": "code_execution_20250825", "name": "code_execution"},
            {"name": "Read", "input_schema": {"type": "object"}},
        ]
    )
    chat = to_chat_request(body, recipe_view=VIEW, signer=SIGNER, hosted=SUPPORT)
    names = [tool["function"]["name"] for tool in chat.body["tools"]]
    assert names == ["web_search", "web_fetch", "Read"]  # case 28: code_execution removed
    search = chat.body["tools"][0]["function"]
    assert search["parameters"]["required"] == ["query"]
    assert "example.org" in search["description"]
    assert [(t.kind, t.max_uses, t.allowed_domains) for t in chat.hosted] == [
        ("web_search", 3, ("example.org",)),
        ("web_fetch", None, ()),
    ]


def test_without_a_web_service_hosted_tools_are_removed_as_before() -> None:
    chat = to_chat_request(base(tools=[SEARCH]), recipe_view=VIEW, signer=SIGNER)
    assert "tools" not in chat.body and chat.hosted == ()
    with pytest.raises(AnthropicError, match="not supported by this backend"):
        to_chat_request(
            base(tools=[SEARCH], tool_choice={"type": "tool", "name": "web_search"}),
            recipe_view=VIEW,
            signer=SIGNER,
        )


@pytest.mark.parametrize(
    "tool",
    [
        {**SEARCH, "max_uses": 0},
        {**SEARCH, "allowed_domains": ["a.org"], "blocked_domains": ["b.org"]},
        {**SEARCH, "allowed_domains": "a.org"},
        {**SEARCH, "user_location": "Berlin"},
        {**FETCH, "max_content_tokens": "many"},
    ],
)
def test_bad_hosted_tool_definitions_are_invalid_requests(tool: dict[str, Any]) -> None:
    with pytest.raises(AnthropicError) as raised:
        to_chat_request(base(tools=[tool]), recipe_view=VIEW, signer=SIGNER, hosted=SUPPORT)
    assert raised.value.type == "invalid_request_error"


# ------------------------------------------------------------------------------ golden rounds


def test_case_85_search_round_streams_server_tool_use_then_its_result() -> None:
    web = ScriptedWeb()
    body = base(
        tools=[
            {
                **SEARCH,
                "blocked_domains": ["blocked.example.com"],
                "user_location": {"type": "approximate", "country": "DE"},
            }
        ]
    )
    r = Rounds(body, web)
    r.feed(call_round("web_search", {"query": "autosred daemon"}))
    assert shapes(r.events) == [
        ("message_start",),
        ("ping",),
        ("content_block_start", 0, "server_tool_use"),
        ("content_block_delta", 0, "input_json_delta"),
        ("content_block_delta", 0, "input_json_delta"),
        ("content_block_stop", 0),
    ]
    use = blocks_of(r.events, "server_tool_use")[0]
    assert use["id"].startswith("srvtoolu_") and use["name"] == "web_search"
    nxt = r.step()
    assert nxt is not None
    assert web.asked == [("search", ("autosred daemon", "DE"))]
    result = blocks_of(r.events, "web_search_tool_result")[0]
    assert result["tool_use_id"] == use["id"]
    assert [(h["type"], h["url"], h["title"], h["page_age"]) for h in result["content"]] == [
        ("web_search_result", HITS[0].url, HITS[0].title, HITS[0].page_age)
    ]
    sealed = result["content"][0]["encrypted_content"]
    assert HITS[0].snippet not in sealed
    assert SEALER.open(sealed, bound_to=HITS[0].url) == HITS[0].snippet
    # The next round: the model's call, then the result as a tool message.
    assistant, tool = nxt["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
        "query": "autosred daemon"
    }
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1"
    assert HITS[0].url in tool["content"] and HITS[0].snippet in tool["content"]
    assert HITS[1].url not in tool["content"]
    r.feed(text_round("Autosred is a host daemon."))
    message = r.message()
    assert [b["type"] for b in message["content"]] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert message["content"][0]["input"] == {"query": "autosred daemon"}
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] == 250  # both rounds' prompts
    assert message["usage"]["output_tokens"] == 15
    assert message["usage"]["server_tool_use"] == {
        "web_search_requests": 1,
        "web_fetch_requests": 0,
    }
    # The official SDK's types read every block.
    parsed = anthropic.types.Message.model_validate(message)
    assert parsed.content[1].type == "web_search_tool_result"
    assert parsed.usage.server_tool_use is not None
    assert parsed.usage.server_tool_use.web_search_requests == 1


def test_case_86_fetch_round_returns_the_page_as_a_document() -> None:
    page = WebPage("https://docs.example.org/autosred", "# Autosred\n\nText " * 50, "Autosred")
    web = ScriptedWeb(page=page)
    body = base(
        messages=[{"role": "user", "content": "Read https://docs.example.org/autosred please"}],
        tools=[{**FETCH, "max_content_tokens": 10}],
    )
    r = Rounds(body, web)
    r.feed(call_round("web_fetch", {"url": "https://docs.example.org/autosred"}))
    r.step()
    result = blocks_of(r.events, "web_fetch_tool_result")[0]
    content = result["content"]
    assert content["type"] == "web_fetch_result" and content["url"] == page.url
    assert content["retrieved_at"].endswith("Z")
    document = content["content"]
    assert document["type"] == "document" and document["title"] == "Autosred"
    assert document["source"]["type"] == "text"
    assert document["source"]["media_type"] == "text/plain"
    assert document["source"]["data"] == page.text[:40]  # max_content_tokens 10: 40 chars
    r.feed(text_round("Read it."))
    message = r.message()
    assert message["usage"]["server_tool_use"] == {
        "web_search_requests": 0,
        "web_fetch_requests": 1,
    }
    anthropic.types.Message.model_validate(message)


SEARCH_ERRORS = [
    ("rate_limited", {"query": "x"}, "too_many_requests"),
    ("unavailable", {"query": "x"}, "unavailable"),
    (None, {"q": "x"}, "invalid_tool_input"),
    (None, {"query": "x" * 401}, "query_too_long"),
]


@pytest.mark.parametrize(("failure", "args", "code"), SEARCH_ERRORS)
def test_case_87_search_error_codes(
    failure: WebFailureKind | None, args: dict[str, Any], code: str
) -> None:
    r = Rounds(base(tools=[SEARCH]), ScriptedWeb(failure=failure))
    r.feed(call_round("web_search", args))
    r.step()
    result = blocks_of(r.events, "web_search_tool_result")[0]
    assert result["content"] == {"type": "web_search_tool_result_error", "error_code": code}
    assert f"Error: {code}" in r.bodies[-1]["messages"][-1]["content"]
    r.feed(text_round("Sorry."))
    anthropic.types.Message.model_validate(r.message())


FETCH_ERRORS = [
    ("not_accessible", "https://docs.example.org/a", "url_not_accessible"),
    ("unsupported", "https://docs.example.org/a", "unsupported_content_type"),
    ("too_large", "https://docs.example.org/a", "content_too_large"),
    ("not_allowed", "https://docs.example.org/a", "url_not_allowed"),  # the address guard
    (None, "https://blocked.example.com/a", "url_not_allowed"),  # the tool's domains
    (None, "https://elsewhere.example.net/", "url_not_in_prior_context"),
    (None, "ftp://docs.example.org/a", "invalid_tool_input"),
    (None, "https://docs.example.org/" + "a" * 2001, "url_too_long"),
    ("rate_limited", "https://docs.example.org/a", "too_many_requests"),
    ("unavailable", "https://docs.example.org/a", "unavailable"),
]


@pytest.mark.parametrize(("failure", "url", "code"), FETCH_ERRORS)
def test_case_88_fetch_error_codes(failure: WebFailureKind | None, url: str, code: str) -> None:
    body = base(
        messages=[{"role": "user", "content": f"see {url} and https://docs.example.org/a"}],
        tools=[{**FETCH, "blocked_domains": ["blocked.example.com"]}],
    )
    if code == "url_not_in_prior_context":
        body["messages"][0]["content"] = "see https://docs.example.org/a"
    web = ScriptedWeb(failure=failure)
    r = Rounds(body, web)
    r.feed(call_round("web_fetch", {"url": url}))
    r.step()
    result = blocks_of(r.events, "web_fetch_tool_result")[0]
    assert result["content"] == {"type": "web_fetch_tool_result_error", "error_code": code}
    if failure is None:
        assert web.asked == []  # refused before any request
    r.feed(text_round("Sorry."))
    anthropic.types.Message.model_validate(r.message())


def test_case_89_max_uses_counts_and_the_spent_tool_is_withdrawn() -> None:
    web = ScriptedWeb()
    r = Rounds(base(tools=[{**SEARCH, "max_uses": 1}, FETCH]), web)
    r.feed(
        [
            chunk(tool_delta(0, id="call_a", name="web_search", args='{"query": "one"}')),
            chunk(tool_delta(1, id="call_b", name="web_search", args='{"query": "two"}')),
            chunk(finish="tool_calls"),
            usage_chunk(100, 10),
        ]
    )
    nxt = r.step()
    assert nxt is not None
    results = blocks_of(r.events, "web_search_tool_result")
    assert isinstance(results[0]["content"], list)
    assert results[1]["content"] == {
        "type": "web_search_tool_result_error",
        "error_code": "max_uses_exceeded",
    }
    assert len(web.asked) == 1
    assert [t["function"]["name"] for t in nxt["tools"]] == ["web_fetch"]
    assert nxt["tool_choice"] == "auto"
    r.feed(text_round("Done."))
    message = r.message()
    assert [b["type"] for b in message["content"]] == [
        "server_tool_use",
        "server_tool_use",
        "web_search_tool_result",
        "web_search_tool_result",
        "text",
    ]
    assert message["usage"]["server_tool_use"]["web_search_requests"] == 1


def test_a_client_tool_call_beside_a_hosted_one_ends_the_message_with_tool_use() -> None:
    body = base(tools=[SEARCH, {"name": "Read", "input_schema": {"type": "object"}}])
    r = Rounds(body, ScriptedWeb())
    r.feed(
        [
            chunk(tool_delta(0, id="call_a", name="web_search", args='{"query": "one"}')),
            chunk(tool_delta(1, id="call_b", name="Read", args='{"path": "x"}')),
            chunk(finish="tool_calls"),
            usage_chunk(100, 10),
        ]
    )
    assert r.step() is None
    message = r.message()
    assert [b["type"] for b in message["content"]] == [
        "server_tool_use",
        "tool_use",
        "web_search_tool_result",
    ]
    assert message["stop_reason"] == "tool_use"


def test_the_rounds_stop_at_max_rounds_with_pause_turn() -> None:
    r = Rounds(base(tools=[SEARCH]), ScriptedWeb())
    for n in range(MAX_ROUNDS):
        r.feed(call_round("web_search", {"query": f"q{n}"}, call_id=f"call_{n}"))
        body = r.step()
        assert (body is None) == (n == MAX_ROUNDS - 1)
    message = r.message()
    assert message["stop_reason"] == "pause_turn"
    assert len(blocks_of(r.events, "web_search_tool_result")) == MAX_ROUNDS
    indexes = [e.data["index"] for e in r.events if e.type == "content_block_start"]
    assert indexes == list(range(2 * MAX_ROUNDS))


def test_a_round_cut_at_max_tokens_ends_the_message() -> None:
    r = Rounds(base(tools=[SEARCH]), ScriptedWeb())
    r.feed(
        [
            chunk(tool_delta(0, id="call_a", name="web_search", args='{"query": ')),
            chunk(finish="length"),
            usage_chunk(100, 10),
        ]
    )
    assert not r.hosted.pending()
    assert r.message()["stop_reason"] == "max_tokens"


# ------------------------------------------------------------------------------ history


def test_case_90_replayed_history_is_the_conversation_the_model_saw() -> None:
    web = ScriptedWeb()
    body = base(tools=[SEARCH])
    r = Rounds(body, web)
    r.feed(call_round("web_search", {"query": "autosred daemon"}))
    live = r.step()
    assert live is not None
    r.feed(text_round("Autosred is a host daemon."))
    message = r.message()
    replay = base(
        tools=[SEARCH],
        messages=[
            *body["messages"],
            {"role": "assistant", "content": message["content"]},
            {"role": "user", "content": "thanks"},
        ],
    )
    chat = to_chat_request(replay, recipe_view=VIEW, signer=SIGNER, hosted=SUPPORT)
    replayed = chat.body["messages"]
    # The live round's messages, exactly; then the final text and the new user turn.
    assert replayed[1:3] == [
        {**live["messages"][1], "content": ""},
        live["messages"][2],
    ]
    assert replayed[3] == {"role": "assistant", "content": "Autosred is a host daemon."}
    assert replayed[4] == {"role": "user", "content": "thanks"}


def test_foreign_or_moved_encrypted_content_is_left_out() -> None:
    url = "https://docs.example.org/autosred"
    sealed = SEALER.seal("secret snippet", bound_to=url)
    other = ContentSealer(b"another-daemon-key-0123").seal("forged snippet", bound_to=url)

    def replay(hits: list[dict[str, Any]]) -> str:
        content = [
            {
                "type": "server_tool_use",
                "id": "srvtoolu_01",
                "name": "web_search",
                "input": {"query": "q"},
            },
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": hits},
        ]
        messages = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": content},
            {"role": "user", "content": "go on"},
        ]
        chat = to_chat_request(
            base(messages=messages), recipe_view=VIEW, signer=SIGNER, hosted=SUPPORT
        )
        tool = chat.body["messages"][2]
        assert tool["role"] == "tool" and tool["tool_call_id"] == "srvtoolu_01"
        return str(tool["content"])

    hit = {"type": "web_search_result", "url": url, "title": "T", "encrypted_content": sealed}
    assert "secret snippet" in replay([hit])
    assert "secret snippet" not in replay([{**hit, "url": url + "/moved"}])
    text = replay([{**hit, "encrypted_content": other}])
    assert "forged" not in text and url in text
    assert "max_uses_exceeded" in replay(
        {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}  # type: ignore[arg-type]
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.text(max_size=40))
def test_sealer_opens_what_it_sealed_and_nothing_else(text: str, url: str) -> None:
    sealed = SEALER.seal(text, bound_to=url)
    assert SEALER.open(sealed, bound_to=url) == text
    assert SEALER.open(sealed[:-2], bound_to=url) is None
    assert SEALER.open(text, bound_to=url) is None


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=20,
    ),
    st.sampled_from(["web_search_tool_result", "web_fetch_tool_result", "server_tool_use"]),
)
def test_hostile_hosted_blocks_in_history_are_a_400_or_accepted(content: object, kind: str) -> None:
    block: dict[str, Any] = {
        "type": kind,
        "tool_use_id": "srvtoolu_x",
        "id": "srvtoolu_x",
        "name": "web_search",
        "content": content,
        "input": content,
    }
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": "go on"},
    ]
    try:
        to_chat_request(base(messages=messages), recipe_view=VIEW, signer=SIGNER, hosted=SUPPORT)
    except AnthropicError as exc:
        assert exc.type == "invalid_request_error"


def test_count_tokens_counts_the_hosted_functions_the_model_is_offered() -> None:
    counted = to_tokenize_request(
        base(tools=[SEARCH]), recipe_view=VIEW, signer=SIGNER, hosted=SUPPORT
    )
    assert [t["function"]["name"] for t in counted["tools"]] == ["web_search"]
    off = to_tokenize_request(base(tools=[SEARCH]), recipe_view=VIEW, signer=SIGNER)
    assert "tools" not in off


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["web_search", "web_fetch"]), st.text(max_size=80))
def test_any_arguments_get_a_result_never_an_exception(name: str, arguments: str) -> None:
    page = WebPage("https://docs.example.org/a", "text")
    run = HostedRun(
        [HostedTool("web_search", "web_search"), HostedTool("web_fetch", "web_fetch")],
        ScriptedWeb(page=page),
        log=logging.getLogger("test.hosted"),
        prior_context="https://docs.example.org/a",
    )
    result = asyncio.run(run.execute(name, arguments))
    assert isinstance(result, SearchDone | FetchDone | ToolFailed)


def test_a_failure_while_the_tools_run_ends_the_message_with_an_error_event() -> None:
    r = Rounds(base(tools=[SEARCH]), ScriptedWeb())
    r.feed(call_round("web_search", {"query": "q"}))
    assert r.hosted.pending() and r.translator.close() == []  # the round's end: nothing
    closing = r.translator.close(
        AnthropicError.of_type("overloaded_error", "the daemon is shutting down")
    )
    assert [event.type for event in closing] == ["error"]
    assert r.translator.outcome.status == "failed"
