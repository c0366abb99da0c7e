"""Checklist H of docs/conformance.md (cases 67-83), pure: the request mapper and the stream
translator, golden.

Each test shows what Codex would read (the decoded SSE payloads) and what vLLM would receive
(the upstream body). The HTTP-level twins, through the real daemon and autosred-sim, are in
http/test_http_cases.py (case 84 lives there only: it is the models route).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from autosred.proxy.responses import (
    ModelView,
    ReasoningSealer,
    ResponsesError,
    UpstreamError,
    map_upstream_error,
)
from autosred.proxy.responses.handler import _history
from autosred.proxy.responses.store import ResponseStore
from tests.proxy.chunks import chunk, tool_delta, usage_chunk
from tests.proxy.responses.resp_helpers import (
    MODEL,
    SEALER,
    assistant,
    base,
    call_output,
    check_lifecycle,
    decoded,
    developer,
    function_call,
    items_of,
    messages,
    of_type,
    reasoning_item,
    request,
    run,
    translator,
    upstream,
    user,
)

ROLE = chunk({"role": "assistant", "content": ""})


def _types(payloads: list[dict[str, Any]]) -> list[str]:
    return [p["type"].removeprefix("response.") for p in payloads]


# ------------------------------------------------------------------------------ 67, 68


def test_case_67_plain_text_stream_has_the_full_lifecycle() -> None:
    payloads = decoded(
        run([ROLE, chunk({"content": "Hel"}), chunk({"content": "lo"}, finish="stop")])
    )
    assert _types(payloads) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    assert [p["sequence_number"] for p in payloads] == list(range(10))
    created = payloads[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == []
    added = payloads[2]
    assert added["item"] == {
        "id": added["item"]["id"],
        "type": "message",
        "status": "in_progress",
        "content": [],
        "role": "assistant",
    }
    assert payloads[3]["part"] == {
        "type": "output_text",
        "annotations": [],
        "logprobs": [],
        "text": "",
    }
    assert [p["delta"] for p in of_type(payloads, "response.output_text.delta")] == ["Hel", "lo"]
    assert payloads[6]["text"] == "Hello"
    assert payloads[7]["part"]["text"] == "Hello"
    done = payloads[8]["item"]
    assert done["status"] == "completed" and done["content"][0]["text"] == "Hello"
    check_lifecycle(payloads)


def test_case_68_completed_response_repeats_the_streamed_items_and_maps_usage() -> None:
    events = run(
        [
            ROLE,
            chunk({"reasoning": "Think."}),
            chunk({"content": "Answer."}),
            chunk({}, finish="stop"),
            usage_chunk(2100, 35, cached=1024, reasoning=12),
        ]
    )
    payloads = decoded(events)
    final = check_lifecycle(payloads)
    assert final["id"] == "resp_test" and final["object"] == "response"
    assert final["status"] == "completed" and final["model"] == MODEL
    assert final["output"] == items_of(payloads)
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    added_ids = [p["item"]["id"] for p in of_type(payloads, "response.output_item.added")]
    assert [item["id"] for item in final["output"]] == added_ids
    assert final["usage"] == {
        "input_tokens": 2100,
        "input_tokens_details": {"cached_tokens": 1024},
        "output_tokens": 35,
        "output_tokens_details": {"reasoning_tokens": 12},
        "total_tokens": 2135,
    }


# ------------------------------------------------------------------------------ 69 - 72


def test_case_69_instructions_and_developer_messages_fold_into_one_system_message() -> None:
    sent = messages(
        developer("base prompt"),
        developer("skills"),
        user("hello"),
        assistant("hi"),
        developer("mid-conversation note"),
        user("next"),
        instructions="instructions",
    )
    assert sent == [
        {
            "role": "system",
            "content": "instructions\n\nbase prompt\n\nskills\n\nmid-conversation note",
        },
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "next"},
    ]
    assert sum(message["role"] == "system" for message in sent) == 1


def test_case_70_string_input_equals_one_user_message_and_output_text_is_assistant_text() -> None:
    as_string = upstream(base(input="hello"))
    as_items = upstream(base(input=[user("hello")]))
    assert as_string == as_items
    assert as_string["messages"] == [{"role": "user", "content": "hello"}]
    easy = upstream(base(input=[{"role": "user", "content": "hello"}]))
    assert easy == as_string
    history = messages(user("q"), assistant("a1"), user("q2"))
    assert history[1] == {"role": "assistant", "content": "a1"}


def test_case_71_consecutive_calls_group_into_one_assistant_message_then_outputs() -> None:
    sent = messages(
        user("go"),
        function_call("A", arguments='{"cmd":"ls"}'),
        function_call("B", arguments='{"cmd":"pwd"}'),
        call_output("A", "a.txt"),
        call_output("B", "/home"),
    )
    assert sent == [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "A",
                    "type": "function",
                    "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'},
                },
                {
                    "id": "B",
                    "type": "function",
                    "function": {"name": "exec_command", "arguments": '{"cmd":"pwd"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "A", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "B", "content": "/home"},
    ]


def test_case_72_output_parts_become_tool_text_and_a_following_image_message() -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    sent = messages(
        user("look"),
        function_call("A", name="view_image"),
        call_output(
            "A",
            [
                {"type": "input_text", "text": "the image:"},
                {"type": "input_image", "image_url": image},
            ],
        ),
        function_call("B"),
        call_output("B", "plain\noutput"),
    )
    assert sent[2] == {"role": "tool", "tool_call_id": "A", "content": "the image:"}
    assert sent[3] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": image}}],
    }
    assert sent[5] == {"role": "tool", "tool_call_id": "B", "content": "plain\noutput"}


# ------------------------------------------------------------------------------ 73 - 75

APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"},
}


def test_case_73_function_custom_and_client_search_tools_go_up_others_are_skipped() -> None:
    tools = [
        {
            "type": "function",
            "name": "exec_command",
            "description": "Run",
            "strict": False,
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        },
        APPLY_PATCH,
        {"type": "web_search", "external_web_access": False},
        {"type": "image_generation"},
        {"type": "tool_search", "execution": "client", "parameters": {"type": "object"}},
        {"type": "file_search", "vector_store_ids": []},
        {"type": "mcp", "server_label": "x"},
        {"type": "local_shell"},
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}],
        },
    ]
    req = request(base(tools=tools))
    sent = req.body["tools"]
    assert [tool["function"]["name"] for tool in sent] == [
        "exec_command",
        "apply_patch",
        "tool_search",
        "multi_agent_v1__spawn_agent",
    ]
    assert sent[0] == {
        "type": "function",
        "function": {
            "name": "exec_command",
            "description": "Run",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        },
    }
    patch = sent[1]["function"]
    assert patch["parameters"]["required"] == ["input"]
    assert patch["parameters"]["properties"]["input"]["type"] == "string"
    assert patch["description"].startswith("Edit files.")
    assert "start: begin_patch" in patch["description"] and "lark" in patch["description"]
    # The client runs this search itself (Codex: its deferred MCP tools), so it goes up.
    assert sent[2] == {
        "type": "function",
        "function": {"name": "tool_search", "parameters": {"type": "object"}},
    }
    assert req.tools["tool_search"].kind == "tool_search"
    assert req.skipped_tools == (
        "web_search",
        "image_generation",
        "file_search",
        "mcp",
        "local_shell",
    )
    assert all(tool["type"] == "function" for tool in sent)
    # A search OpenAI runs (no client execution) stays OpenAI's.
    hosted = request(base(tools=[{"type": "tool_search", "parameters": {"type": "object"}}]))
    assert "tools" not in hosted.body and hosted.skipped_tools == ("tool_search",)


def test_case_74_custom_tool_call_comes_back_unwrapped_and_its_output_is_a_tool_message() -> None:
    req = request(base(tools=[APPLY_PATCH]))
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"
    arguments = json.dumps({"input": patch})
    payloads = decoded(
        run(
            [
                ROLE,
                chunk(tool_delta(0, id="chatcmpl-tool-9", name="apply_patch", args="")),
                chunk(tool_delta(0, args=arguments[:20])),
                chunk(tool_delta(0, args=arguments[20:])),
                chunk({}, finish="tool_calls"),
                usage_chunk(10, 3),
            ],
            translator(req),
        )
    )
    final = check_lifecycle(payloads)
    item = final["output"][0]
    assert item == {
        "id": item["id"],
        "type": "custom_tool_call",
        "status": "completed",
        "call_id": "chatcmpl-tool-9",
        "name": "apply_patch",
        "input": patch,
    }
    assert item["id"].startswith("ctc_")
    assert of_type(payloads, "response.custom_tool_call_input.done")[0]["input"] == patch
    assert not of_type(payloads, "response.function_call_arguments.delta")
    # The next turn: the call and its output map back to the upstream id.
    sent = messages(
        user("patch it"),
        {
            "type": "custom_tool_call",
            "call_id": "chatcmpl-tool-9",
            "name": "apply_patch",
            "input": patch,
        },
        {"type": "custom_tool_call_output", "call_id": "chatcmpl-tool-9", "output": "Done!"},
        tools=[APPLY_PATCH],
    )
    assert sent[1]["tool_calls"] == [
        {
            "id": "chatcmpl-tool-9",
            "type": "function",
            "function": {"name": "apply_patch", "arguments": json.dumps({"input": patch})},
        }
    ]
    assert sent[2] == {"role": "tool", "tool_call_id": "chatcmpl-tool-9", "content": "Done!"}


# The shapes Codex 0.169 sends and accepts, recorded from the real CLI (tests/codex: an MCP
# server's tools deferred behind its client-run tool_search, for gpt-5.5).
TOOL_SEARCH = {
    "type": "tool_search",
    "execution": "client",
    "description": "# Tool discovery\n\nSearches over deferred tool metadata.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "number"}},
        "required": ["query"],
        "additionalProperties": False,
    },
}
LOADED = {
    "type": "namespace",
    "name": "mcp__autosred_fetch",
    "description": "Tools in the mcp__autosred_fetch namespace.",
    "tools": [
        {
            "type": "function",
            "name": "fetch",
            "description": "Fetch a URL.\nMore lines.",
            "strict": False,
            "defer_loading": True,
            "parameters": {"type": "object", "properties": {"url": {"type": "string"}}},
        }
    ],
}


def test_case_73_a_client_tool_search_call_comes_back_as_tool_search_call() -> None:
    req = request(base(tools=[TOOL_SEARCH]))
    payloads = decoded(
        run(
            [
                ROLE,
                chunk(tool_delta(0, id="chatcmpl-tool-5", name="tool_search", args='{"que')),
                chunk(tool_delta(0, args='ry": "fetch a page"}')),
                chunk({}, finish="tool_calls"),
                usage_chunk(10, 3),
            ],
            translator(req),
        )
    )
    final = check_lifecycle(payloads)
    item = final["output"][0]
    assert item == {
        "id": item["id"],
        "type": "tool_search_call",
        "status": "completed",
        "call_id": "chatcmpl-tool-5",
        "execution": "client",
        "arguments": {"query": "fetch a page"},
    }
    assert item["id"].startswith("ts_")
    added = of_type(payloads, "response.output_item.added")[0]["item"]
    assert added["type"] == "tool_search_call" and added["status"] == "in_progress"
    assert not of_type(payloads, "response.function_call_arguments.delta")


def test_case_73_the_tools_a_search_loaded_go_up_and_its_output_is_a_tool_message() -> None:
    history = [
        user("fetch it"),
        {
            "type": "tool_search_call",
            "id": "ts_1",
            "call_id": "call_ts1",
            "status": "completed",
            "execution": "client",
            "arguments": {"query": "fetch a web page"},
        },
        {
            "type": "tool_search_output",
            "call_id": "call_ts1",
            "status": "completed",
            "execution": "client",
            "tools": [LOADED],
        },
    ]
    req = request(base(input=history, tools=[TOOL_SEARCH]))
    assert [tool["function"]["name"] for tool in req.body["tools"]] == [
        "tool_search",
        "mcp__autosred_fetch__fetch",
    ]
    target = req.tools["mcp__autosred_fetch__fetch"]
    assert (target.kind, target.name, target.namespace) == (
        "function",
        "fetch",
        "mcp__autosred_fetch",
    )
    sent = req.body["messages"]
    assert sent[1]["tool_calls"] == [
        {
            "id": "call_ts1",
            "type": "function",
            "function": {"name": "tool_search", "arguments": '{"query": "fetch a web page"}'},
        }
    ]
    assert sent[2] == {
        "role": "tool",
        "tool_call_id": "call_ts1",
        "content": "Tools loaded (call them by these names):\n"
        "- mcp__autosred_fetch__fetch: Fetch a URL.",
    }
    # The model calls the loaded tool: a function_call in its namespace, as Codex expects.
    payloads = decoded(
        run(
            [
                ROLE,
                chunk(tool_delta(0, id="c2", name="mcp__autosred_fetch__fetch", args="{}")),
                chunk({}, finish="tool_calls"),
            ],
            translator(req),
        )
    )
    item = check_lifecycle(payloads)["output"][0]
    assert (item["type"], item["name"], item["namespace"]) == (
        "function_call",
        "fetch",
        "mcp__autosred_fetch",
    )


def test_case_73_search_items_without_a_pair_or_with_bad_tools() -> None:
    # A search OpenAI ran (no call_id) has nothing to pair with; one that loaded nothing says so.
    sent = messages(
        user("x"),
        {"type": "tool_search_call", "execution": "server", "arguments": {"query": "q"}},
        {"type": "tool_search_call", "call_id": "c", "execution": "client", "arguments": "q"},
        {"type": "tool_search_output", "call_id": "c", "execution": "client", "tools": []},
    )
    assert sent[1]["tool_calls"][0]["function"] == {"name": "tool_search", "arguments": "q"}
    assert sent[2]["content"] == "No tools matched the search."
    with pytest.raises(ResponsesError) as refused:
        request(base(input=[{"type": "tool_search_output", "call_id": "c", "tools": {}}]))
    assert refused.value.param == "input.0.tools"


def test_case_75_function_calls_stream_arguments_and_complete_in_item_done() -> None:
    payloads = decoded(
        run(
            [
                ROLE,
                chunk(tool_delta(0, id="call_a", name="exec_command", args='{"cmd"')),
                chunk(tool_delta(0, args=': "ls"}')),
                chunk(tool_delta(1, id="call_b", name="exec_command", args='{"cmd": "pwd"}')),
                chunk({}, finish="tool_calls"),
                usage_chunk(10, 4),
            ]
        )
    )
    final = check_lifecycle(payloads)
    added = of_type(payloads, "response.output_item.added")
    assert [p["output_index"] for p in added] == [0, 1]
    assert added[0]["item"] == {
        "id": added[0]["item"]["id"],
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": "call_a",
        "name": "exec_command",
    }
    assert added[0]["item"]["id"].startswith("fc_")
    deltas = of_type(payloads, "response.function_call_arguments.delta")
    assert [(p["output_index"], p["delta"]) for p in deltas] == [
        (0, '{"cmd"'),
        (0, ': "ls"}'),
        (1, '{"cmd": "pwd"}'),
    ]
    done = of_type(payloads, "response.function_call_arguments.done")
    assert [p["arguments"] for p in done] == ['{"cmd": "ls"}', '{"cmd": "pwd"}']
    assert [(item["call_id"], item["arguments"], item["status"]) for item in final["output"]] == [
        ("call_a", '{"cmd": "ls"}', "completed"),
        ("call_b", '{"cmd": "pwd"}', "completed"),
    ]


# ------------------------------------------------------------------------------ 76, 77


def test_case_76_reasoning_is_a_summary_item_closed_before_the_call() -> None:
    """docs/conformance.md §7.3, event by event."""
    payloads = decoded(
        run(
            [
                ROLE,
                chunk({"reasoning": "Need to "}),
                chunk({"reasoning": "run ls."}),
                chunk({"content": "\n\n"}),
                chunk(tool_delta(0, id="call_1", name="shell", args='{"command":["ls"]}')),
                chunk({}, finish="tool_calls"),
                usage_chunk(2100, 35),
            ]
        )
    )
    assert _types(payloads) == [
        "created",
        "in_progress",
        "output_item.added",
        "reasoning_summary_part.added",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.done",
        "reasoning_summary_part.done",
        "output_item.done",
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.done",
        "output_item.done",
        "completed",
    ]
    rs_id = payloads[2]["item"]["id"]
    assert rs_id.startswith("rs_") and payloads[2]["item"] == {
        "id": rs_id,
        "type": "reasoning",
        "summary": [],
    }
    for payload in payloads[3:8]:
        assert payload["item_id"] == rs_id and payload["summary_index"] == 0
        assert payload["output_index"] == 0
    assert payloads[6]["text"] == "Need to run ls."
    assert payloads[7]["part"] == {"type": "summary_text", "text": "Need to run ls."}
    assert payloads[8]["item"]["summary"] == [{"type": "summary_text", "text": "Need to run ls."}]
    final = check_lifecycle(payloads)
    assert [item["type"] for item in final["output"]] == ["reasoning", "function_call"]
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 2


def test_case_77_encrypted_content_round_trips_into_reasoning() -> None:
    req = request(base(include=["reasoning.encrypted_content"], store=False))
    payloads = decoded(
        run(
            [
                ROLE,
                chunk({"reasoning": "Need to list files."}),
                chunk(tool_delta(0, id="call_1", name="exec_command", args='{"cmd":"ls"}')),
                chunk({}, finish="tool_calls"),
            ],
            translator(req),
        )
    )
    reasoning, call = check_lifecycle(payloads)["output"]
    sealed = reasoning["encrypted_content"]
    assert sealed and "Need to list files." not in sealed
    assert SEALER.open(sealed) == "Need to list files."
    # What Codex sends next: the items as it stored them, then the output.
    sent = messages(
        user("list"),
        {k: v for k, v in reasoning.items() if k != "status"},
        {k: v for k, v in call.items() if k != "status"},
        call_output("call_1", "a.txt\nb.txt"),
    )
    assert sent[1:] == [
        {
            "role": "assistant",
            "content": "",
            "reasoning": "Need to list files.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt\nb.txt"},
    ]
    # Not asked for: no encrypted_content; foreign or tampered content: no reasoning.
    plain = check_lifecycle(decoded(run([chunk({"reasoning": "x"}), chunk({}, finish="stop")])))
    assert "encrypted_content" not in plain["output"][0]
    foreign = reasoning_item("injected", ReasoningSealer(b"another-key-0123456789"))
    tampered = dict(reasoning, encrypted_content=sealed[:-2] + "AA")
    for item in (foreign, tampered, {"type": "reasoning", "summary": []}):
        sent = messages(user("q"), item, assistant("a"), user("q2"))
        assert sent[1] == {"role": "assistant", "content": "a"}


# ------------------------------------------------------------------------------ 78, 79


def test_case_78_options_map_and_client_bookkeeping_never_reaches_vllm() -> None:
    body = base(
        reasoning={"effort": "high", "summary": "auto"},
        max_output_tokens=300,
        text={
            "verbosity": "low",
            "format": {
                "type": "json_schema",
                "name": "answer",
                "strict": True,
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
        },
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="thread-1",
        client_metadata={"session_id": "s"},
        service_tier="auto",
        metadata={"k": "v"},
        truncation="auto",
        user="me",
        temperature=0.2,
        top_p=0.9,
    )
    sent = upstream(body)
    assert sent == {
        "model": "qwen3-8b",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "reasoning_effort": "high",
        "chat_template_kwargs": {"enable_thinking": True},
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                "strict": True,
            },
        },
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    off = upstream(base(reasoning={"effort": "none"}))
    assert "reasoning_effort" not in off
    assert off["chat_template_kwargs"] == {"enable_thinking": False}
    no_effort = ModelView(served_model_name="m", reasoning_effort=False)
    assert "reasoning_effort" not in upstream(base(reasoning={"effort": "low"}), no_effort)


def test_case_79_previous_response_id_prepends_the_stored_conversation() -> None:
    store = ResponseStore()
    first = request(base(input=[user("first question")]))
    t = translator(first)
    run([chunk({"content": "first answer"}), chunk({}, finish="stop")], t)
    store.put(t.response_id, [*first.conversation, *t.items], 100)
    history, size = _history(store, base(previous_response_id="resp_test"))
    assert size == 100 and history is not None
    sent = request(base(input="second question", previous_response_id="resp_test"), history=history)
    assert sent.body["messages"] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    with pytest.raises(ResponsesError) as raised:
        _history(store, base(previous_response_id="resp_unknown"))
    error = raised.value.body()["error"]
    assert raised.value.status == 400
    assert error["code"] == "previous_response_not_found"
    assert error["type"] == "invalid_request_error" and error["param"] == "previous_response_id"


# ------------------------------------------------------------------------------ 80 - 83


def test_case_80_errors_before_and_after_the_first_byte() -> None:
    overflow = (
        "This model's maximum context length is 4096 tokens. However, you requested 100 "
        "output tokens and your prompt contains 5000 input tokens, for a total of 5100 tokens."
    )
    early = map_upstream_error(
        UpstreamError("http", status=400, body={"error": {"message": overflow, "code": 400}})
    )
    assert early.status == 400
    assert early.body() == {
        "error": {
            "message": overflow,
            "type": "invalid_request_error",
            "param": "input",
            "code": "context_length_exceeded",
        }
    }
    refused = map_upstream_error(UpstreamError("connect", detail="refused"))
    assert refused.status == 503 and refused.retry_after is not None
    # After the stream started: response.failed, then nothing.
    t = translator()
    events = run([ROLE, chunk({"content": "partial"})], t, close=False)
    events += t.close(UpstreamError("closed", detail="reset"))
    assert t.close() == [] and t.feed(chunk({"content": "late"})) == []
    payloads = decoded(events)
    final = check_lifecycle(payloads)
    assert payloads[-1]["type"] == "response.failed"
    assert final["status"] == "failed"
    assert final["error"]["code"] == "server_error" and final["error"]["message"]
    in_band = decoded(
        run([ROLE, {"error": {"message": overflow, "type": "BadRequestError", "code": 400}}])
    )
    assert in_band[-1]["response"]["error"]["code"] == "context_length_exceeded"


def test_case_81_length_finish_is_response_incomplete() -> None:
    payloads = decoded(
        run([ROLE, chunk({"content": "cut sho"}, finish="length"), usage_chunk(5, 1)])
    )
    final = check_lifecycle(payloads)
    assert payloads[-1]["type"] == "response.incomplete"
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"
    assert final["output"][0]["content"][0]["text"] == "cut sho"


def test_case_82_empty_input_probe_is_answered_without_the_model() -> None:
    req = request({"model": MODEL, "input": [], "max_output_tokens": 1})
    assert req.probe
    t = translator(req)
    final = check_lifecycle(decoded(t.complete_empty()))
    assert final["status"] == "completed" and final["output"] == []
    assert final["usage"]["total_tokens"] == 0
    assert not request(base(input="x")).probe
    assert request({"model": MODEL, "instructions": "only a system prompt"}).probe


def test_case_83_non_streaming_response_is_the_completed_object() -> None:
    t = translator()
    events = run([ROLE, chunk({"content": "same"}), chunk({}, finish="stop"), usage_chunk(3, 1)], t)
    completed = decoded(events)[-1]["response"]
    assert t.response() == completed
    assert completed["status"] == "completed"
    assert completed["output"][0]["content"][0]["text"] == "same"
