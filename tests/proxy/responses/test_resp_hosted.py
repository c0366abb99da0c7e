"""Codex's hosted ``web_search`` on /v1/responses, sans-IO: the translation, the rounds, the
stream's events and the history (docs/conformance.md, cases 92-94).

The model's rounds are vLLM chunks fed to the real translator; the searches run through the
shared ``HostedRun`` against ``ScriptedWeb``, the in-memory web of the Anthropic hosted tests
(the HTTP tests, test_resp_hosted_http.py, search a local SearXNG through the real daemon).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx2 as httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import ResponseFunctionWebSearch
from openai.types.responses.response_function_web_search import ActionSearch

from autosred.proxy.hosted.executor import HostedRun
from autosred.proxy.hosted.memory import RememberedResult, SearchMemory, query_key
from autosred.proxy.hosted.tools import HostedKind
from autosred.proxy.hosted.web import WebHit
from autosred.proxy.responses import Event, ResponsesError, to_chat_request
from autosred.proxy.responses.history import to_chat_messages
from autosred.proxy.responses.hosted import MAX_ROUNDS, HostedResponses
from tests.proxy.anthropic.test_anth_hosted import HITS, ScriptedWeb
from tests.proxy.chunks import chunk, tool_delta, usage_chunk
from tests.proxy.responses.resp_helpers import (
    ROLE_CHUNK,
    SEALER,
    VIEW,
    base,
    check_lifecycle,
    decoded,
    items_of,
    of_type,
    sse,
    translator,
    user,
)

SEARCH = {"type": "web_search"}
EXEC = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}
KINDS: frozenset[HostedKind] = frozenset({"web_search", "web_fetch"})


class Rounds:
    """One request: its translation, translator and hosted rounds, fed round by round."""

    def __init__(
        self,
        body: dict[str, Any],
        web: ScriptedWeb,
        *,
        memory: SearchMemory | None = None,
        caps: dict[str, int | None] | None = None,
        history: list[Any] | None = None,
    ) -> None:
        self.memory = memory if memory is not None else SearchMemory()
        self.chat = to_chat_request(
            body, view=VIEW, sealer=SEALER, hosted=KINDS, memory=self.memory, history=history
        )
        self.translator = translator(self.chat)
        run = HostedRun(
            self.chat.hosted,
            web,
            log=logging.getLogger("test.hosted"),
            caps=caps,  # type: ignore[arg-type]
            client="tester",
            surface="responses",
            memory=self.memory,
        )
        self.hosted = HostedResponses(
            run=run, translator=self.translator, body=self.chat.body, memory=self.memory
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

    def final(self) -> dict[str, Any]:
        return check_lifecycle(decoded(self.events))


def search_round(query: str, *, call_id: str = "call_1", index: int = 0) -> list[dict[str, Any]]:
    text = json.dumps({"query": query})
    return [
        chunk(tool_delta(index, id=call_id, name="web_search", args=text[:4])),
        chunk(tool_delta(index, args=text[4:])),
    ]


def ended(chunks: list[dict[str, Any]], finish: str = "tool_calls") -> list[dict[str, Any]]:
    return [ROLE_CHUNK, *chunks, chunk(finish=finish), usage_chunk(100, 10)]


def text_round(text: str) -> list[dict[str, Any]]:
    return [ROLE_CHUNK, chunk({"content": text}), chunk(finish="stop"), usage_chunk(150, 5)]


# ------------------------------------------------------------------------------ translation


def test_web_search_is_offered_as_a_function_with_its_options() -> None:
    body = base(
        tools=[
            {
                "type": "web_search",
                "filters": {"allowed_domains": ["example.org"]},
                "user_location": {"type": "approximate", "country": "DE", "city": "Berlin"},
                "search_context_size": "high",
            },
            EXEC,
        ],
        tool_choice={"type": "web_search"},
    )
    chat = to_chat_request(body, view=VIEW, sealer=SEALER, hosted=KINDS)
    assert [t["function"]["name"] for t in chat.body["tools"]] == ["web_search", "exec_command"]
    function = chat.body["tools"][0]["function"]
    assert function["parameters"]["required"] == ["query"]
    assert "example.org" in function["description"]
    assert chat.body["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
    [tool] = chat.hosted
    assert (tool.kind, tool.allowed_domains, tool.country, tool.live) == (
        "web_search",
        ("example.org",),
        "DE",
        True,
    )
    assert chat.skipped_tools == ()
    preview = to_chat_request(
        base(tools=[{"type": "web_search_preview", "external_web_access": False}]),
        view=VIEW,
        sealer=SEALER,
        hosted=KINDS,
    )
    assert [t.live for t in preview.hosted] == [False]


def test_without_hosted_searches_web_search_is_skipped_as_before() -> None:
    chat = to_chat_request(base(tools=[SEARCH]), view=VIEW, sealer=SEALER)
    assert "tools" not in chat.body and chat.hosted == ()
    assert chat.skipped_tools == ("web_search",)


@pytest.mark.parametrize(
    "tool",
    [
        {**SEARCH, "filters": {"allowed_domains": "example.org"}},
        {**SEARCH, "filters": "example.org"},
        {**SEARCH, "user_location": "Berlin"},
        {**SEARCH, "user_location": {"country": 49}},
        {**SEARCH, "search_context_size": "huge"},
        {**SEARCH, "external_web_access": "no"},
    ],
)
def test_bad_web_search_definitions_are_400(tool: dict[str, Any]) -> None:
    with pytest.raises(ResponsesError) as raised:
        to_chat_request(base(tools=[tool]), view=VIEW, sealer=SEALER, hosted=KINDS)
    assert raised.value.status == 400


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["filters", "user_location", "search_context_size", "external_web_access", "x"]
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["allowed_domains", "country", "type"]), inner, max_size=3
                )
            ),
            max_leaves=6,
        ),
        max_size=4,
    )
)
def test_fuzz_web_search_definitions_give_a_request_or_a_400(options: dict[str, Any]) -> None:
    try:
        chat = to_chat_request(
            base(tools=[{**SEARCH, **options}]), view=VIEW, sealer=SEALER, hosted=KINDS
        )
    except ResponsesError as exc:
        assert exc.status == 400
    else:
        assert [t.kind for t in chat.hosted] == ["web_search"]


# ------------------------------------------------------------------------------ golden rounds


def test_case_92_search_round_streams_a_web_search_call_then_the_answer() -> None:
    web = ScriptedWeb()
    body = base(
        tools=[{**SEARCH, "user_location": {"country": "DE"}}],
        include=["web_search_call.action.sources"],
    )
    r = Rounds(body, web)
    r.feed(ended(search_round("autosred daemon")))
    assert [e.type for e in r.events] == ["response.created", "response.in_progress"]
    nxt = r.step()
    assert nxt is not None
    assert web.asked == [("search", ("autosred daemon", "DE"))]
    r.feed(text_round("Autosred is a host daemon."))
    payloads = decoded(r.events)
    assert [p["type"] for p in payloads] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = check_lifecycle(payloads)  # sequence numbers 0, 1, 2 …; one item at a time
    added = payloads[2]["item"]
    assert added["id"].startswith("ws_") and added["status"] == "in_progress"
    assert added["action"] == {"type": "search", "query": "autosred daemon"}
    for phase in payloads[3:6]:
        assert (phase["item_id"], phase["output_index"]) == (added["id"], 0)
    search, message = final["output"]
    assert search == {
        "id": added["id"],
        "type": "web_search_call",
        "status": "completed",
        "action": {
            "type": "search",
            "query": "autosred daemon",
            "sources": [{"type": "url", "url": hit.url} for hit in HITS],
        },
    }
    assert message["content"][0]["text"] == "Autosred is a host daemon."
    assert final["usage"]["input_tokens"] == 250  # both rounds' prompts
    assert final["usage"]["output_tokens"] == 15
    # The next round: the model's call, then the results as a tool message.
    assistant, tool = nxt["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
        "query": "autosred daemon"
    }
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1"
    assert HITS[0].url in tool["content"] and HITS[0].snippet in tool["content"]
    # The official SDK's type reads the item.
    parsed = ResponseFunctionWebSearch.model_validate(search)
    assert parsed.action.type == "search" and parsed.action.query == "autosred daemon"


def test_sources_only_when_include_asks_and_allowed_domains_filter_results() -> None:
    body = base(tools=[{**SEARCH, "filters": {"allowed_domains": ["example.org"]}}])
    r = Rounds(body, ScriptedWeb())
    r.feed(ended(search_round("autosred")))
    nxt = r.step()
    assert nxt is not None
    item = items_of(decoded(r.events))[0]
    assert item["action"] == {"type": "search", "query": "autosred"}
    tool = nxt["messages"][-1]["content"]
    assert HITS[0].url in tool and HITS[1].url not in tool  # blocked.example.com is not allowed


def test_sdk_accumulates_the_hosted_stream_and_the_json_answer() -> None:
    r = Rounds(base(tools=[SEARCH]), ScriptedWeb())
    r.feed(ended(search_round("autosred")))
    r.step()
    r.feed(text_round("Found it."))
    body = sse(r.events)
    client = openai.OpenAI(
        api_key="x",
        base_url="http://autosred.test/v1",
        http_client=httpx.Client(
            transport=httpx.MockTransport(
                lambda _: httpx.Response(
                    200, headers={"content-type": "text/event-stream"}, content=body
                )
            )
        ),
        max_retries=0,
    )
    with client.responses.stream(model="gpt-5.5", input="go", tools=[{"type": "web_search"}]) as s:
        seen = [e.type for e in s]
        final = s.get_final_response()
    assert "response.web_search_call.searching" in seen
    assert [item.type for item in final.output] == ["web_search_call", "message"]
    search = final.output[0]
    assert isinstance(search, ResponseFunctionWebSearch) and search.status == "completed"
    assert isinstance(search.action, ActionSearch) and search.action.query == "autosred"
    assert final.output_text == "Found it."
    # Non-streaming, the flow answers translator.response(): the same items.
    answer = r.translator.response()["output"]
    assert [item["id"] for item in answer] == [item.model_dump()["id"] for item in final.output]
    ResponseFunctionWebSearch.model_validate(answer[0])


def test_a_failed_search_is_a_failed_item_the_model_reads_and_goes_on() -> None:
    r = Rounds(base(tools=[SEARCH]), ScriptedWeb(failure="rate_limited"))
    r.feed(ended(search_round("autosred")))
    nxt = r.step()
    assert nxt is not None
    payloads = decoded(r.events)
    assert not of_type(payloads, "response.web_search_call.completed")
    assert items_of(payloads)[0]["status"] == "failed"
    assert nxt["messages"][-1]["content"].startswith("Error: too_many_requests")
    r.feed(text_round("No luck."))
    check_lifecycle(decoded(r.events))


def test_max_uses_cap_answers_max_uses_exceeded_and_stops_offering_the_tool() -> None:
    web = ScriptedWeb()
    r = Rounds(base(tools=[SEARCH, EXEC]), web, caps={"web_search": 1})
    r.feed(ended(search_round("one")))
    nxt = r.step()
    assert nxt is not None
    assert [t["function"]["name"] for t in nxt["tools"]] == ["exec_command"]
    r.feed(ended(search_round("two", call_id="call_2")))  # called anyway
    nxt = r.step()
    assert nxt is not None and len(web.asked) == 1
    assert nxt["messages"][-1]["content"].startswith("Error: max_uses_exceeded")
    r.feed(text_round("Done."))
    final = r.final()
    assert [i["status"] for i in final["output"][:2]] == ["completed", "failed"]


def test_a_client_call_beside_a_search_ends_the_response_after_the_search() -> None:
    r = Rounds(base(tools=[SEARCH, EXEC]), ScriptedWeb())
    calls = [
        *search_round("autosred"),
        chunk(tool_delta(1, id="call_x", name="exec_command", args='{"cmd":"ls"}')),
    ]
    r.feed(ended(calls))
    assert r.step() is None
    final = r.final()
    assert [i["type"] for i in final["output"]] == ["function_call", "web_search_call"]
    assert final["status"] == "completed"


def test_a_search_cut_by_max_output_tokens_is_not_run() -> None:
    web = ScriptedWeb()
    r = Rounds(base(tools=[SEARCH]), web)
    r.feed(ended(search_round("autosred"), finish="length"))
    assert not r.hosted.pending() and web.asked == []
    assert r.final()["status"] == "incomplete"


def test_the_last_round_is_not_offered_the_search() -> None:
    r = Rounds(base(tools=[SEARCH]), ScriptedWeb(), caps={"web_search": None})
    nxt: dict[str, Any] | None = None
    for n in range(1, MAX_ROUNDS):
        r.feed(ended(search_round(f"q{n}", call_id=f"call_{n}")))
        nxt = r.step()
        assert nxt is not None
    assert nxt is not None and "tools" not in nxt and "tool_choice" not in nxt
    r.feed(text_round("Enough."))
    assert r.final()["status"] == "completed"


# ------------------------------------------------------------------------------ offline


def test_external_web_access_false_answers_from_earlier_results_of_the_same_client() -> None:
    memory = SearchMemory()
    memory.keep_hits(query_key("tester", None, "Autosred  Daemon"), tuple(HITS[:1]))
    web = ScriptedWeb()
    offline = {**SEARCH, "external_web_access": False}
    r = Rounds(base(tools=[offline]), web, memory=memory)
    r.feed(ended(search_round("autosred daemon")))
    nxt = r.step()
    assert nxt is not None and web.asked == []  # the web was not asked
    assert HITS[0].snippet in nxt["messages"][-1]["content"]
    assert items_of(decoded(r.events))[0]["status"] == "completed"

    miss = Rounds(base(tools=[offline]), web, memory=memory)
    miss.feed(ended(search_round("something else")))
    nxt = miss.step()
    assert nxt is not None and web.asked == []
    assert nxt["messages"][-1]["content"].startswith("Error: no_cached_results")
    assert items_of(decoded(miss.events))[0]["status"] == "failed"


def test_a_live_search_fills_the_memory_an_offline_one_reads() -> None:
    memory = SearchMemory()
    live = Rounds(base(tools=[SEARCH]), ScriptedWeb(), memory=memory)
    live.feed(ended(search_round("autosred")))
    live.step()
    assert memory.hits(query_key("tester", None, "AUTOSRED")) == tuple(HITS)
    assert memory.hits(query_key("other", None, "autosred")) is None  # per client


# ------------------------------------------------------------------------------ history


def test_case_93_replayed_web_search_call_reads_as_the_model_saw_it() -> None:
    memory = SearchMemory()
    first = base(input=[user("what is autosred?")], tools=[SEARCH])
    r = Rounds(first, ScriptedWeb(), memory=memory)
    r.feed(ended([chunk({"content": "Let me look."}), *search_round("autosred")]))
    live = r.step()
    assert live is not None
    r.feed(text_round("A host daemon."))
    output = r.final()["output"]
    # Codex keeps only id, status and action of a web_search_call; it sends them back.
    kept = [
        {
            k: v
            for k, v in item.items()
            if k in ("id", "type", "status", "action", "role", "content")
        }
        for item in output
    ]
    replay = [user("what is autosred?"), *kept, user("thanks")]
    sent = to_chat_messages(None, replay, sealer=SEALER, policy=VIEW.media, memory=memory)
    assert sent[:3] == live["messages"][:3]  # user, the round's assistant message, the results
    assert sent[3] == {"role": "assistant", "content": "A host daemon."}
    assert sent[4] == {"role": "user", "content": "thanks"}
    # Results the daemon no longer has: the call and its query, and that they are gone.
    gone = to_chat_messages(None, replay, sealer=SEALER, policy=VIEW.media, memory=SearchMemory())
    assert json.loads(gone[1]["tool_calls"][0]["function"]["arguments"]) == {"query": "autosred"}
    assert gone[2]["role"] == "tool" and "no longer available" in gone[2]["content"]


def test_memory_is_bounded() -> None:
    memory = SearchMemory(max_entries=3, max_bytes=10_000)
    for n in range(10):
        memory.keep_hits(query_key("c", None, f"q{n}"), (WebHit("t", "https://x.org", "s"),))
    assert len(memory) == 3 and memory.hits(query_key("c", None, "q9")) is not None
    assert memory.hits(query_key("c", None, "q0")) is None
    memory.keep_hits(query_key("c", None, "big"), (WebHit("t", "u", "s" * 20_000),))
    assert memory.hits(query_key("c", None, "big")) is None and memory.bytes <= 10_000


def test_two_searches_in_one_round_are_two_items_one_after_the_other() -> None:
    web = ScriptedWeb()
    r = Rounds(base(tools=[SEARCH]), web)
    r.feed(ended([*search_round("one"), *search_round("two", call_id="call_2", index=1)]))
    nxt = r.step()
    assert nxt is not None and [asked[1][0] for asked in web.asked] == ["one", "two"]
    assert [m["tool_call_id"] for m in nxt["messages"][-2:]] == ["call_1", "call_2"]
    r.feed(text_round("Both."))
    final = r.final()  # one item open at a time, output_index 0, 1, 2
    assert [(i["type"], i["action"]["query"]) for i in final["output"][:2]] == [
        ("web_search_call", "one"),
        ("web_search_call", "two"),
    ]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"type": st.just("web_search_call")},
        optional={
            "id": st.one_of(st.just("ws_known"), _JSON),
            "status": _JSON,
            "action": st.one_of(
                st.fixed_dictionaries({"type": st.just("search")}, optional={"query": _JSON}),
                _JSON,
            ),
        },
    )
)
def test_fuzz_replayed_web_search_calls_give_messages_or_a_400(item: dict[str, Any]) -> None:
    memory = SearchMemory()
    memory.keep_result("ws_known", RememberedResult("call_k", '{"query": "k"}', "results"))
    try:
        sent = to_chat_messages(
            None, [user("q"), item, user("next")], sealer=SEALER, policy=VIEW.media, memory=memory
        )
    except ResponsesError as exc:
        assert exc.status == 400
        return
    calls = [m for m in sent if m.get("tool_calls")]
    tools = [m for m in sent if m["role"] == "tool"]
    assert len(calls) == len(tools) <= 1  # a call always has its result right after it
    if calls:
        assert sent[sent.index(calls[0]) + 1] is tools[0]
