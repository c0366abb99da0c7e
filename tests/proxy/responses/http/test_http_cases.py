"""Checklist H of docs/conformance.md (cases 67-84) through the real daemon and autosred-sim.

Each test checks what Codex would see (the SSE bytes, and the official ``openai`` SDK's
``get_final_response()`` over the same bytes) and what the simulated vLLM received.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.proxy.responses.http.support import (
    MODEL,
    Api,
    assert_openai_error,
    body,
    sim,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")

EXEC = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"cmd": {"type": "string"}},
        "required": ["cmd"],
    },
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files. This is a FREEFORM tool.",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+"},
}
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"


def message(role: str, text: str) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


async def test_case_67_plain_text_stream(api: Api) -> None:
    streamed = await api.stream(body(sim(text="Hello from the sim", chunk_size=5)))
    assert streamed.status == 200, streamed.raw
    assert streamed.headers["content-type"].startswith("text/event-stream")
    types = [p["type"] for p in streamed.payloads]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-5:] == [
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = streamed.of_type("response.output_text.delta")
    assert len(deltas) == 4 and "".join(d["delta"] for d in deltas) == "Hello from the sim"
    assert b"[DONE]" not in streamed.raw
    assert streamed.final is not None and streamed.final.output_text == "Hello from the sim"
    sent = await api.sent(streamed.request_id)
    assert sent["model"] == "sim-served" and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_case_68_completed_response_has_the_streamed_ids_and_the_sims_usage(
    api: Api,
) -> None:
    streamed = await api.stream(body(sim(reasoning="Thinking it over.", text="Done.")))
    final = streamed.terminal
    assert final["status"] == "completed" and final["model"] == MODEL
    added = [p["item"]["id"] for p in streamed.of_type("response.output_item.added")]
    assert [item["id"] for item in final["output"]] == added
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    record = await api.upstream(streamed.request_id)
    usage = final["usage"]
    assert usage["input_tokens"] == record["prompt_tokens"]
    assert usage["output_tokens"] == record["chunks_sent"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert 0 < usage["output_tokens_details"]["reasoning_tokens"] < usage["output_tokens"]
    assert usage["input_tokens_details"] == {"cached_tokens": 0}
    sdk = streamed.final
    assert sdk.id == final["id"] and [item.id for item in sdk.output] == added
    assert sdk.usage.output_tokens == usage["output_tokens"]


async def test_case_69_instructions_and_developer_messages_become_one_system_message(
    api: Api,
) -> None:
    items = [
        message("developer", "You are Codex."),
        message("developer", "<skills_instructions>…</skills_instructions>"),
        message("user", "<environment_context>cwd</environment_context>"),
        message("assistant", "earlier answer"),
        message("developer", "<permissions>changed</permissions>"),
        message("user", sim(text="ok")),
    ]
    reply = await api.post(body(items, instructions="Be brief.", stream=False))
    assert reply.status == 200, reply.text
    sent = (await api.sent(reply.request_id))["messages"]
    assert sent[0] == {
        "role": "system",
        "content": "Be brief.\n\nYou are Codex.\n\n<skills_instructions>…</skills_instructions>"
        "\n\n<permissions>changed</permissions>",
    }
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]


async def test_case_70_string_and_item_input_give_identical_prompts(api: Api) -> None:
    text = sim(text="same")
    as_string = await api.post({"model": MODEL, "input": text, "stream": False})
    as_items = await api.post(body(text, stream=False))
    assert as_string.status == as_items.status == 200
    first = await api.sent(as_string.request_id)
    second = await api.sent(as_items.request_id)
    assert first["messages"] == second["messages"] == [{"role": "user", "content": text}]
    prompt = await api.upstream(as_string.request_id)
    assert prompt["prompt_tokens"] == (await api.upstream(as_items.request_id))["prompt_tokens"]


async def test_case_71_parallel_calls_and_their_outputs(api: Api) -> None:
    items = [
        message("user", sim(text="Both listed.")),
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_A",
            "name": "exec_command",
            "arguments": '{"cmd": "ls"}',
            "status": "completed",
        },
        {
            "type": "function_call",
            "id": "fc_2",
            "call_id": "call_B",
            "name": "exec_command",
            "arguments": '{"cmd": "pwd"}',
            "status": "completed",
        },
        {"type": "function_call_output", "id": "fco_1", "call_id": "call_A", "output": "a.txt"},
        {"type": "function_call_output", "id": "fco_2", "call_id": "call_B", "output": "/w"},
    ]
    reply = await api.post(body(items, tools=[EXEC], stream=False))
    assert reply.status == 200, reply.text
    sent = (await api.sent(reply.request_id))["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [call["id"] for call in sent[1]["tool_calls"]] == ["call_A", "call_B"]
    assert [(m["tool_call_id"], m["content"]) for m in sent[2:]] == [
        ("call_A", "a.txt"),
        ("call_B", "/w"),
    ]


async def test_case_72_tool_output_parts_with_an_image(api: Api) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    items = [
        message("user", sim(text="I see it.")),
        {
            "type": "function_call",
            "call_id": "call_img",
            "name": "view_image",
            "arguments": '{"path": "a.png"}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_img",
            "output": [
                {"type": "input_text", "text": "a.png:"},
                {"type": "input_image", "image_url": image},
            ],
        },
    ]
    reply = await api.post(body(items, stream=False))
    assert reply.status == 200, reply.text
    sent = (await api.sent(reply.request_id))["messages"]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_img", "content": "a.png:"}
    assert sent[3] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": image}}],
    }
    # A text-only model refuses the image up front, in the OpenAI envelope.
    refused = await api.post(body(items, model="text-model", stream=False))
    assert "image" in assert_openai_error(refused, 400)["message"]


async def test_case_73_codex_tool_list_is_accepted(api: Api) -> None:
    tools = [
        EXEC,
        APPLY_PATCH,
        {
            "type": "tool_search",
            "execution": "client",
            "description": "find tools",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
        {
            "type": "web_search",
            "external_web_access": False,
            "search_content_types": ["text", "image"],
        },
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "description": "agents",
            "tools": [
                {
                    "type": "function",
                    "name": "spawn_agent",
                    "strict": False,
                    "parameters": {"type": "object", "properties": {}},
                }
            ],
        },
    ]
    streamed = await api.stream(body(sim(text="tools ok"), tools=tools, tool_choice="auto"))
    assert streamed.status == 200 and streamed.terminal["status"] == "completed"
    sent = await api.sent(streamed.request_id)
    # web_search is run by the daemon (its hosted search is on with mcp.search): offered
    # as a function in its place (case 92).
    assert [tool["function"]["name"] for tool in sent["tools"]] == [
        "exec_command",
        "apply_patch",
        "tool_search",
        "web_search",
        "multi_agent_v1__spawn_agent",
    ]
    assert all(set(tool) == {"type", "function"} for tool in sent["tools"])
    assert sent["tool_choice"] == "auto"
    # The response echoes the client's tools as sent.
    assert streamed.terminal["tools"] == tools


async def test_case_74_apply_patch_round_trip(api: Api) -> None:
    spec = {"tool_calls": [{"name": "apply_patch", "arguments": {"input": PATCH}}]}
    streamed = await api.stream(body(sim(**spec), tools=[EXEC, APPLY_PATCH]))
    (item,) = streamed.terminal["output"]
    assert item["type"] == "custom_tool_call" and item["name"] == "apply_patch"
    assert item["input"] == PATCH and item["status"] == "completed"
    assert streamed.final.output[0].type == "custom_tool_call"
    assert streamed.final.output[0].input == PATCH
    call_id = item["call_id"]
    items = [
        message("user", sim(text="Patched.")),
        {k: v for k, v in item.items() if k != "status"},
        {
            "type": "custom_tool_call_output",
            "call_id": call_id,
            "output": "Success. Updated A hello.txt",
        },
    ]
    reply = await api.post(body(items, tools=[APPLY_PATCH], stream=False))
    assert reply.status == 200, reply.text
    sent = (await api.sent(reply.request_id))["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call_id
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"input": PATCH}
    assert sent[2] == {
        "role": "tool",
        "tool_call_id": call_id,
        "content": "Success. Updated A hello.txt",
    }


async def test_case_75_function_call_with_complete_arguments(api: Api) -> None:
    arguments = {"cmd": "ls /home/user/tmpdir-list", "workdir": "/tmp"}
    streamed = await api.stream(
        body(sim(tool_calls=[{"name": "exec_command", "arguments": arguments}]), tools=[EXEC])
    )
    (item,) = streamed.terminal["output"]
    assert item["type"] == "function_call" and item["id"].startswith("fc_")
    assert json.loads(item["arguments"]) == arguments
    deltas = streamed.of_type("response.function_call_arguments.delta")
    assert len(deltas) >= 2 and "".join(d["delta"] for d in deltas) == item["arguments"]
    (done,) = streamed.of_type("response.output_item.done")
    assert done["item"]["arguments"] == item["arguments"]
    record = await api.upstream(streamed.request_id)
    assert item["call_id"].startswith("chatcmpl-tool-")  # the sim's id, verbatim
    assert record["finish_reason"] == "tool_calls"
    sdk_call = streamed.final.output[0]
    assert sdk_call.type == "function_call" and json.loads(sdk_call.arguments) == arguments


async def test_case_76_reasoning_summary_events(api: Api) -> None:
    spec = {
        "reasoning": "Need to run ls.",
        "tool_calls": [{"name": "exec_command", "arguments": {"cmd": "ls"}}],
    }
    streamed = await api.stream(body(sim(**spec), tools=[EXEC], reasoning={"summary": "auto"}))
    reasoning, call = streamed.terminal["output"]
    assert reasoning["type"] == "reasoning" and call["type"] == "function_call"
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Need to run ls."}]
    deltas = streamed.of_type("response.reasoning_summary_text.delta")
    assert "".join(d["delta"] for d in deltas) == "Need to run ls."
    assert {d["summary_index"] for d in deltas} == {0}
    assert streamed.of_type("response.reasoning_summary_part.added")[0]["summary_index"] == 0


async def test_case_77_reasoning_comes_back_on_the_next_turn(api: Api) -> None:
    spec = {
        "reasoning": "List the files first.",
        "tool_calls": [{"name": "exec_command", "arguments": {"cmd": "ls"}}],
    }
    first = await api.stream(
        body(sim(**spec), tools=[EXEC], store=False, include=["reasoning.encrypted_content"])
    )
    reasoning, call = first.terminal["output"]
    assert reasoning["encrypted_content"]
    items = [
        message("user", sim(text="Two files.")),
        reasoning,
        {k: v for k, v in call.items() if k != "status"},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "a.txt\nb.txt"},
    ]
    second = await api.stream(body(items, tools=[EXEC], store=False))
    sent = (await api.sent(second.request_id))["messages"]
    assert sent[1]["reasoning"] == "List the files first."
    assert sent[1]["tool_calls"][0]["id"] == call["call_id"]
    assert sent[2] == {"role": "tool", "tool_call_id": call["call_id"], "content": "a.txt\nb.txt"}
    # Without include, no encrypted_content is handed out.
    plain = await api.stream(body(sim(reasoning="r", text="t")))
    assert "encrypted_content" not in plain.terminal["output"][0]


async def test_case_78_options_reach_vllm_and_bookkeeping_does_not(api: Api) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    payload = body(
        sim(text='{"answer": "yes"}'),
        reasoning={"effort": "high"},
        max_output_tokens=50,
        text={
            "verbosity": "low",
            "format": {"type": "json_schema", "name": "a", "schema": schema, "strict": True},
        },
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="thread",
        client_metadata={"session_id": "s"},
        parallel_tool_calls=True,
        stream=False,
    )
    reply = await api.post(payload)
    assert reply.status == 200, reply.text
    sent = await api.sent(reply.request_id)
    assert sent["reasoning_effort"] == "high"
    assert sent["chat_template_kwargs"] == {"enable_thinking": True}
    assert sent["max_tokens"] == 50
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "a", "schema": schema, "strict": True},
    }
    for key in (
        "store",
        "include",
        "prompt_cache_key",
        "client_metadata",
        "text",
        "reasoning",
        "parallel_tool_calls",
        "input",
        "max_output_tokens",
    ):
        assert key not in sent
    assert reply.json["text"]["format"]["type"] == "json_schema"


async def test_case_79_previous_response_id(api: Api) -> None:
    first = await api.post(body(sim(text="The answer is 42."), stream=False))
    assert first.status == 200, first.text
    follow = await api.post(
        {
            "model": MODEL,
            "input": sim(text="yes"),
            "previous_response_id": first.json["id"],
            "stream": False,
        }
    )
    assert follow.status == 200, follow.text
    assert follow.json["previous_response_id"] == first.json["id"]
    sent = (await api.sent(follow.request_id))["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == "The answer is 42."
    unknown = await api.post({"model": MODEL, "input": "x", "previous_response_id": "resp_nope"})
    error = assert_openai_error(unknown, 400, "previous_response_not_found")
    assert error["type"] == "invalid_request_error" and error["param"] == "previous_response_id"
    unstored = await api.post(body("not kept", store=False, stream=False))
    again = await api.post(
        {"model": MODEL, "input": "x", "previous_response_id": unstored.json["id"]}
    )
    assert_openai_error(again, 400, "previous_response_not_found")


async def test_case_80_errors_before_and_after_the_stream_starts(api: Api) -> None:
    huge = "word " * 5000  # more toy tokens than the 4096 context
    early = await api.post(body(huge, stream=True))
    error = assert_openai_error(early, 400, "context_length_exceeded")
    assert "context length" in error["message"]
    status = await api.post(body(sim(error={"status": 500, "message": "engine died"})))
    assert assert_openai_error(status, 500)["message"] == "engine died"
    late = await api.stream(body(sim(text="a long answer that breaks", chunk_size=3, drop_after=2)))
    assert late.status == 200
    assert late.payloads[-1]["type"] == "response.failed"
    failed = late.terminal
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert late.final is None  # the SDK has no completed response to give
    record = await api.wait_upstream_status(late.request_id, "failed")
    assert record["chunks_sent"] == 2


async def test_case_81_length_is_response_incomplete(api: Api) -> None:
    streamed = await api.stream(
        body(sim(text="one two three four five six", chunk_size=4), max_output_tokens=3)
    )
    assert streamed.payloads[-1]["type"] == "response.incomplete"
    final = streamed.terminal
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"
    assert (await api.sent(streamed.request_id))["max_tokens"] == 3
    reply = await api.post(body(sim(text="one two three four"), max_output_tokens=2, stream=False))
    assert reply.status == 200 and reply.json["status"] == "incomplete"


async def test_case_82_empty_input_probe(api: Api) -> None:
    awake = await api.post(body(sim(text="awake"), stream=False))
    assert awake.status == 200
    before = len(await api.sim_records())
    reply = await api.post({"model": MODEL, "input": [], "max_output_tokens": 1})
    assert reply.status == 200, reply.text
    assert reply.json["status"] == "completed" and reply.json["output"] == []
    streamed = await api.stream({"model": MODEL, "input": [], "max_output_tokens": 1})
    assert streamed.status == 200 and streamed.terminal["status"] == "completed"
    assert streamed.final is not None and streamed.final.output == []
    assert len(await api.sim_records()) == before  # the model was not asked


async def test_case_83_non_streaming_matches_the_stream(api: Api) -> None:
    spec = sim(reasoning="Hmm.", text="Same either way.")
    created, request_id = await api.create(body(spec))
    streamed = await api.stream(body(spec))
    assert created.status == "completed" and created.object == "response"
    assert created.output_text == "Same either way."
    assert [item.type for item in created.output] == [
        item["type"] for item in streamed.terminal["output"]
    ]
    assert created.usage is not None
    assert created.usage.output_tokens == streamed.terminal["usage"]["output_tokens"]
    sent = await api.sent(request_id)
    assert sent["stream"] is True  # upstream always streams


async def test_case_84_models_list_for_codex(api: Api) -> None:
    reply = await api.request("GET", "/v1/models?client_version=0.169.0")
    assert reply.status == 200, reply.text
    assert reply.json["object"] == "list"
    ids = [card["id"] for card in reply.json["data"]]
    assert "sim" in ids and all(card["object"] == "model" for card in reply.json["data"])
    on_codex = await api.request(
        "GET", "/v1/models?client_version=0.169.0", base=api.daemon.codex_url
    )
    assert on_codex.status == 200 and on_codex.json["object"] == "list"
