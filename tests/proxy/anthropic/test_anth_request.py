"""Request mapping: checklist cases on the request side (docs/conformance.md, Part 2 §2)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from autosred.proxy.anthropic import (
    AnthropicError,
    ModelView,
    clamp_max_tokens,
    client_tool_id,
    serialise,
    to_chat_request,
)
from tests.proxy.anthropic.anth_helpers import SIGNER, VIEW, base, request, upstream

BILLING = "x-anthropic-billing-header: cc_version=2.1.197.1c0; cc_entrypoint=sdk-cli;"


def test_case_01_minimal_request_maps_to_served_model() -> None:
    assert upstream(base()) == {
        "model": "qwen3-8b",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 64,
    }


def test_case_02_system_string() -> None:
    messages = upstream(base(system="S"))["messages"]
    assert messages[0] == {"role": "system", "content": "S"}
    assert [m["role"] for m in messages].count("system") == 1


def test_case_03_system_blocks_joined_without_cache_control() -> None:
    body = base(
        system=[
            {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "B"},
        ]
    )
    out = upstream(body)
    assert out["messages"][0] == {"role": "system", "content": "A\nB"}
    assert b"cache_control" not in serialise(request(body))


def test_case_04_billing_header_removed_and_bytes_identical() -> None:
    first = base(
        system=[
            {"type": "text", "text": BILLING},
            {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}},
        ]
    )
    second = copy.deepcopy(first)
    second["system"][0]["text"] = BILLING.replace("1c0", "404")
    del second["system"][1]["cache_control"]
    assert upstream(first)["messages"][0] == {"role": "system", "content": "You are helpful."}
    assert serialise(request(first)) == serialise(request(second))


def test_case_04_billing_header_line_in_a_system_string() -> None:
    out = upstream(base(system=BILLING + "\nYou are helpful."))
    assert out["messages"][0] == {"role": "system", "content": "You are helpful."}


def test_case_05_inline_system_after_user_is_folded_into_that_user_turn() -> None:
    # Claude Code's shape for unknown models (capture 08): [user, system].
    out = upstream(
        base(
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "say hello"}]},
                {"role": "system", "content": "Available agent types"},
            ]
        )
    )
    assert out["messages"] == [{"role": "user", "content": "say hello\nAvailable agent types"}]


def test_case_05_leading_inline_system_joins_the_system_prompt() -> None:
    out = upstream(
        base(
            system="S",
            messages=[
                {"role": "system", "content": [{"type": "text", "text": "T"}]},
                {"role": "user", "content": "hi"},
            ],
        )
    )
    assert out["messages"] == [
        {"role": "system", "content": "S\nT"},
        {"role": "user", "content": "hi"},
    ]


def test_case_05_inline_system_never_splits_tool_calls_from_results() -> None:
    out = upstream(
        base(
            messages=[
                {"role": "user", "content": "list"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "T1", "name": "ls", "input": {}}],
                },
                {"role": "system", "content": "reminder"},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "T1", "content": "a"}],
                },
            ]
        )
    )
    assert out["messages"] == [
        {"role": "user", "content": "list"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "T1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
            ],
        },
        # No user turn after tool results: the note joins the last result.
        {"role": "tool", "tool_call_id": "T1", "content": "a\nreminder"},
    ]


def test_case_05_inline_system_after_assistant_prefixes_next_user_turn() -> None:
    out = upstream(
        base(
            messages=[
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "system", "content": "note"},
                {"role": "user", "content": "q2"},
            ]
        )
    )
    assert out["messages"][-1] == {"role": "user", "content": "note\nq2"}


def test_case_05_trailing_inline_system_after_assistant_becomes_a_user_turn() -> None:
    out = upstream(
        base(
            messages=[
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "system", "content": "note"},
            ]
        )
    )
    assert out["messages"][-1] == {"role": "user", "content": "note"}
    assert "continue_final_message" not in out


def test_case_05_ctx_and_msg_roles_are_accepted() -> None:
    out = upstream(
        base(messages=[{"role": "ctx", "content": "c"}, {"role": "msg", "content": "m"}])
    )
    assert out["messages"] == [{"role": "user", "content": "c"}, {"role": "user", "content": "m"}]


def test_case_05_inline_system_fold_keeps_the_prefix_stable_across_turns() -> None:
    turn1 = [
        {"role": "user", "content": "say hello"},
        {"role": "system", "content": "agents"},
    ]
    turn2 = [*turn1, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "more"}]
    first = upstream(base(messages=turn1))["messages"]
    second = upstream(base(messages=turn2))["messages"]
    assert second[: len(first)] == first


def test_case_06_unknown_top_level_fields_are_dropped() -> None:
    out = upstream(
        base(
            context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
            service_tier="auto",
            container="c1",
            mcp_servers=[{"type": "url", "url": "http://x"}],
            metadata={"user_id": '{"device_id":"d"}'},
            some_future_field={"x": 1},
        )
    )
    assert set(out) == {"model", "messages", "max_tokens"}


def test_case_09_stop_sequences_become_stop() -> None:
    req = request(base(stop_sequences=["ZZ", "END"]))
    assert req.body["stop"] == ["ZZ", "END"]
    assert req.stop_sequences == ("ZZ", "END")
    assert "stop_sequences" not in req.body


def test_case_11_sampling_passed_through_and_metadata_tolerated() -> None:
    out = upstream(base(temperature=0.2, top_p=0.9, top_k=40, metadata={"user_id": "x_session_1"}))
    assert (out["temperature"], out["top_p"], out["top_k"]) == (0.2, 0.9, 40)
    assert "metadata" not in out and "user" not in out


def test_case_11_max_tokens_clamped_to_the_context_left() -> None:
    assert clamp_max_tokens(32000, prompt_tokens=30000, max_model_len=32768) == 2768
    assert clamp_max_tokens(100, prompt_tokens=10, max_model_len=32768) == 100
    # A prompt that fills the context is left for vLLM to reject with exact numbers.
    assert clamp_max_tokens(100, prompt_tokens=40000, max_model_len=32768) == 1
    req = request(base(max_tokens=32000)).with_max_tokens(2768)
    assert req.body["max_tokens"] == 2768
    assert json.loads(serialise(req))["max_tokens"] == 2768


def test_case_12_any_client_model_maps_to_served_model_and_is_remembered() -> None:
    for name in ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "gpt-4o"):
        req = request(base(model=name))
        assert req.body["model"] == "qwen3-8b"
        assert req.client_model == name


def test_case_16_stream_requests_usage_once_at_the_end() -> None:
    req = request(base(stream=True))
    assert req.stream is True
    assert req.body["stream"] is True
    assert req.body["stream_options"] == {"include_usage": True}
    assert "stream" not in upstream(base(stream=False))


# -------------------------------------------------------------------------------- tools

BASH_SCHEMA = {"type": "object", "properties": {"command": {"type": "string"}}}


def test_case_27_tools_become_function_tools_without_extra_keys() -> None:
    out = upstream(
        base(
            tools=[
                {
                    "name": "Bash",
                    "description": "Run",
                    "input_schema": BASH_SCHEMA,
                    "cache_control": {"type": "ephemeral"},
                    "defer_loading": True,
                    "input_examples": [{"command": "ls"}],
                    "strict": True,
                    "type": "custom",
                    "eager_input_streaming": True,
                },
                {"name": "NoType", "input_schema": {"properties": {}}},
            ]
        )
    )
    assert out["tools"] == [
        {
            "type": "function",
            "function": {"name": "Bash", "description": "Run", "parameters": BASH_SCHEMA},
        },
        {
            "type": "function",
            "function": {"name": "NoType", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    assert out["tool_choice"] == "auto"


def test_case_27_input_schema_is_verbatim_even_with_cache_control_named_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"cache_control": {"type": "string", "title": "Cache Control"}},
        "required": ["cache_control"],
        "additionalProperties": False,
    }
    out = upstream(base(tools=[{"name": "mcp__x__y", "input_schema": schema}]))
    assert out["tools"][0]["function"]["parameters"] == schema


def test_case_28_server_tools_are_removed() -> None:
    out = upstream(
        base(
            tools=[
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                {"type": "bash_20250124", "name": "bash"},
                {"name": "Read", "input_schema": {"type": "object"}},
            ]
        )
    )
    assert [tool["function"]["name"] for tool in out["tools"]] == ["Read"]


def test_case_28_forcing_a_server_tool_is_invalid() -> None:
    with pytest.raises(AnthropicError) as info:
        request(
            base(
                tools=[{"type": "web_search_20250305", "name": "web_search"}],
                tool_choice={"type": "tool", "name": "web_search"},
            )
        )
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"
    assert "not supported by this backend" in info.value.message


def test_case_28_only_server_tools_means_no_tools_upstream() -> None:
    out = upstream(base(tools=[{"type": "web_search_20250305", "name": "web_search"}]))
    assert "tools" not in out and "tool_choice" not in out


TOOLS = [{"name": "Bash", "input_schema": BASH_SCHEMA}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "Bash"}, {"type": "function", "function": {"name": "Bash"}}),
        (None, "auto"),
    ],
)
def test_case_29_tool_choice(choice: dict[str, Any] | None, expected: object) -> None:
    fields: dict[str, Any] = {"tools": TOOLS}
    if choice is not None:
        fields["tool_choice"] = choice
    out = upstream(base(**fields))
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out


def test_case_29_tool_choice_naming_an_unknown_tool_is_invalid() -> None:
    with pytest.raises(AnthropicError, match=r"tool_choice\.name"):
        request(base(tools=TOOLS, tool_choice={"type": "tool", "name": "Nope"}))


def test_case_30_disable_parallel_tool_use() -> None:
    req = request(base(tools=TOOLS, tool_choice={"type": "any", "disable_parallel_tool_use": True}))
    assert req.body["parallel_tool_calls"] is False
    assert req.single_tool_call is True
    assert list(req.body)[:5] == [
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
    ]


def _tool_turns(result_content: Any, **result: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "text"},
                {"type": "tool_use", "id": "T1", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "T2", "name": "Read", "input": {"path": "a"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "T1", "content": result_content, **result},
                {"type": "tool_result", "tool_use_id": "T2", "content": "second"},
                {"type": "text", "text": "<system-reminder>r</system-reminder>"},
            ],
        },
    ]


def test_case_31_assistant_tool_uses_become_one_message_with_tool_calls() -> None:
    messages = upstream(base(messages=_tool_turns("first")))["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "text",
        "tool_calls": [
            {
                "id": "T1",
                "type": "function",
                "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
            },
            {
                "id": "T2",
                "type": "function",
                "function": {"name": "Read", "arguments": '{"path": "a"}'},
            },
        ],
    }


def test_case_32_tool_results_then_the_user_text() -> None:
    messages = upstream(base(messages=_tool_turns("first")))["messages"]
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "T1", "content": "first"},
        {"role": "tool", "tool_call_id": "T2", "content": "second"},
        {"role": "user", "content": "<system-reminder>r</system-reminder>"},
    ]


def test_case_32_tool_results_follow_call_order_not_block_order() -> None:
    turns = _tool_turns("first")
    turns[2]["content"][:2] = reversed(turns[2]["content"][:2])
    messages = upstream(base(messages=turns))["messages"]
    assert [m.get("tool_call_id") for m in messages[2:4]] == ["T1", "T2"]


def test_case_33_tool_result_text_blocks_joined_by_newline() -> None:
    content = [
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "b"},
    ]
    messages = upstream(base(messages=_tool_turns(content)))["messages"]
    assert messages[2] == {"role": "tool", "tool_call_id": "T1", "content": "a\nb"}


def test_case_34_missing_content_and_is_error() -> None:
    turns = _tool_turns(None)
    del turns[2]["content"][0]["content"]
    turns[2]["content"][1]["is_error"] = True
    messages = upstream(base(messages=turns))["messages"]
    assert messages[2]["content"] == ""
    assert messages[3]["content"] == "Error: second"


def test_case_39_tool_ids_map_back_to_the_upstream_id() -> None:
    for upstream_id in ("chatcmpl-tool-8f3a", "functions.Bash:0", "abcDEF123", "call_x_1"):
        client = client_tool_id(upstream_id)
        assert client.startswith("toolu_")
        turns = [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": client, "name": "Bash", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": client, "content": "ok"}],
            },
        ]
        messages = upstream(base(messages=turns))["messages"]
        assert messages[1]["tool_calls"][0]["id"] == upstream_id
        assert messages[2]["tool_call_id"] == upstream_id


def test_case_40_dangling_tool_use_gets_a_placeholder_result() -> None:
    turns = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "T1", "name": "Bash", "input": {}},
                {"type": "tool_use", "id": "T2", "name": "Bash", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "T2", "content": "ok"},
                {"type": "text", "text": "[Request interrupted by user]"},
            ],
        },
    ]
    messages = upstream(base(messages=turns))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "user"]
    assert messages[2]["tool_call_id"] == "T1"
    assert messages[2]["content"].startswith("Tool call interrupted")
    assert messages[3] == {"role": "tool", "tool_call_id": "T2", "content": "ok"}


def test_case_40_tool_use_followed_by_assistant_gets_placeholders() -> None:
    turns = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "T1", "name": "Bash", "input": {}}],
        },
        {"role": "assistant", "content": "moving on"},
    ]
    roles = [m["role"] for m in upstream(base(messages=turns))["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]


def test_orphan_tool_result_becomes_user_text() -> None:
    turns = [
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "X", "content": "late"}],
        }
    ]
    assert upstream(base(messages=turns))["messages"] == [
        {"role": "user", "content": "Tool result for X:\nlate"}
    ]


# -------------------------------------------------------------------------------- thinking


def test_case_41_thinking_enabled_disabled_adaptive() -> None:
    enabled = upstream(base(thinking={"type": "enabled", "budget_tokens": 31999}))
    assert enabled["chat_template_kwargs"] == {"enable_thinking": True}
    assert "thinking_token_budget" not in enabled and "reasoning_effort" not in enabled

    disabled = upstream(base(thinking={"type": "disabled"}, output_config={"effort": "high"}))
    assert disabled["chat_template_kwargs"] == {"enable_thinking": False}
    assert "reasoning_effort" not in disabled

    adaptive = upstream(base(thinking={"type": "adaptive"}, output_config={"effort": "high"}))
    assert adaptive["chat_template_kwargs"] == {"enable_thinking": True}
    assert adaptive["reasoning_effort"] == "high"

    assert upstream(base(output_config={"effort": "max"}))["reasoning_effort"] == "high"
    assert "chat_template_kwargs" not in upstream(base())


def test_case_41_recipe_decides_switch_name_budget_and_effort() -> None:
    deepseek = ModelView(
        served_model_name="ds",
        reasoning_switch="thinking",
        reasoning_effort=False,
        thinking_token_budget=True,
    )
    out = upstream(
        base(thinking={"type": "enabled", "budget_tokens": 2048}, output_config={"effort": "low"}),
        deepseek,
    )
    assert out["chat_template_kwargs"] == {"thinking": True}
    assert out["thinking_token_budget"] == 2048
    assert "reasoning_effort" not in out
    plain = ModelView(served_model_name="m")
    assert "chat_template_kwargs" not in upstream(base(thinking={"type": "enabled"}), plain)


def _history_with_thinking(thinking: str, signature: object) -> list[dict[str, Any]]:
    block: dict[str, Any] = {"type": "thinking", "thinking": thinking}
    if signature is not None:
        block["signature"] = signature
    return [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                block,
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Listing files."},
                {"type": "tool_use", "id": "T1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "T1", "content": "a"}]},
    ]


def test_case_45_signed_thinking_goes_back_as_reasoning() -> None:
    text = "Need to list files."
    messages = upstream(base(messages=_history_with_thinking(text, SIGNER.sign(text))))["messages"]
    assert messages[1]["reasoning"] == text
    assert list(messages[1]) == ["role", "content", "reasoning", "tool_calls"]


def test_case_45_unsigned_or_foreign_thinking_is_dropped() -> None:
    for signature in (None, "", "EqQBCkYIBxgCKkD-anthropic-signature", SIGNER.sign("other")):
        messages = upstream(base(messages=_history_with_thinking("t", signature)))["messages"]
        assert "reasoning" not in messages[1], signature


def test_case_46_empty_thinking_with_signature_adds_no_reasoning() -> None:
    messages = upstream(base(messages=_history_with_thinking("", "sig")))["messages"]
    assert "reasoning" not in messages[1]


def test_case_47_thinking_with_any_temperature_is_forwarded() -> None:
    out = upstream(base(thinking={"type": "enabled", "budget_tokens": 1024}, temperature=0.3))
    assert out["temperature"] == 0.3


# -------------------------------------------------------------------------------- multimodal


def test_case_48_images_base64_and_url() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        {"type": "text", "text": "what?", "cache_control": {"type": "ephemeral"}},
    ]
    messages = upstream(base(messages=[{"role": "user", "content": content}]))["messages"]
    assert messages == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                {"type": "text", "text": "what?"},
            ],
        }
    ]


def test_case_49_image_in_tool_result_follows_the_tool_messages() -> None:
    png = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "B"}}
    messages = upstream(base(messages=_tool_turns([{"type": "text", "text": "pic"}, png])))[
        "messages"
    ]
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "T1", "content": "pic"},
        {"role": "tool", "tool_call_id": "T2", "content": "second"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,B"}},
                {"type": "text", "text": "<system-reminder>r</system-reminder>"},
            ],
        },
    ]


def test_case_50_documents() -> None:
    content = [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "D"}},
        {
            "type": "document",
            "title": "Spec",
            "source": {"type": "content", "content": [{"type": "text", "text": "C"}]},
        },
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"},
        },
    ]
    message = upstream(base(messages=[{"role": "user", "content": content}]))["messages"][0]
    assert message["content"] == (
        "D\nSpec\nC\n[document omitted: this model cannot read PDF documents]"
    )
    strict = ModelView(served_model_name="m", documents="reject")
    with pytest.raises(AnthropicError, match="PDF documents are not supported"):
        upstream(base(messages=[{"role": "user", "content": content}]), strict)


def test_case_51_images_for_a_text_only_model() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    body = base(messages=[{"role": "user", "content": [image, {"type": "text", "text": "?"}]}])
    placeholder = ModelView(served_model_name="m", images="placeholder")
    assert upstream(body, placeholder)["messages"][0]["content"] == (
        "[image omitted: this model does not accept images]\n?"
    )
    reject = ModelView(served_model_name="m", images="reject")
    with pytest.raises(AnthropicError) as info:
        upstream(body, reject)
    assert info.value.status == 400 and "image" in info.value.message


def test_case_52_cache_control_is_stripped_everywhere() -> None:
    cc = {"type": "ephemeral", "ttl": "1h"}
    body = base(
        system=[{"type": "text", "text": "S", "cache_control": cc}],
        tools=[{"name": "Bash", "input_schema": BASH_SCHEMA, "cache_control": cc}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": cc}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "T",
                        "name": "Bash",
                        "input": {},
                        "cache_control": cc,
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "T",
                        "content": "r",
                        "cache_control": cc,
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://x"},
                        "cache_control": cc,
                    },
                ],
            },
        ],
    )
    assert b"cache_control" not in serialise(request(body))


# -------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field"),
        ({"model": "m", "max_tokens": 5}, "messages: Field required"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model: Field"),
        (base(max_tokens=0), "max_tokens: Input should be greater"),
        (base(max_tokens=True), "max_tokens: Input should be a valid integer"),
        (base(messages=[]), "messages: at least one message"),
        (base(messages=[{"role": "bot", "content": "x"}]), "messages.0.role"),
        (base(messages=[{"role": "user"}]), "messages.0.content: Field required"),
        (base(messages=[{"role": "user", "content": [{"text": "x"}]}]), "content.0.type"),
        (base(messages=[{"role": "user", "content": [{"type": "text"}]}]), "content.0.text"),
        (base(temperature="hot"), "temperature"),
        (base(temperature=float("nan")), "temperature"),
        (base(top_p=2), "top_p"),
        (base(stop_sequences="ZZ"), "stop_sequences"),
        (base(tools=[{"name": "x"}]), "tools.0.input_schema"),
        (base(tool_choice={"type": "sometimes"}, tools=TOOLS), "tool_choice.type"),
        (base(stream="yes"), "stream"),
        (base(thinking="on"), "thinking"),
        (
            base(
                messages=[
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "a", "name": "b", "input": [1]}],
                    },
                ]
            ),
            "messages.1.content.0.input",
        ),
        (
            base(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_use", "id": "a", "name": "b", "input": {}},
                        ],
                    }
                ]
            ),
            "only allowed in assistant messages",
        ),
    ],
)
def test_case_57_invalid_requests_name_the_field(body: object, fragment: str) -> None:
    with pytest.raises(AnthropicError) as info:
        to_chat_request(body, recipe_view=VIEW, signer=SIGNER)
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"
    assert fragment in info.value.message


def test_case_57_non_object_body() -> None:
    bodies: list[object] = [None, [], "x", 3]
    for body in bodies:
        with pytest.raises(AnthropicError, match="JSON object"):
            to_chat_request(body, recipe_view=VIEW, signer=SIGNER)


def test_non_finite_numbers_hidden_in_tool_input_are_invalid() -> None:
    turns = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "a", "name": "b", "input": {"x": float("inf")}}],
        },
    ]
    with pytest.raises(AnthropicError, match="NaN or Infinity"):
        request(base(messages=turns))


def test_unknown_block_types_are_dropped() -> None:
    content = [
        {"type": "text", "text": "a"},
        {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
        {"type": "brand_new_block", "payload": 1},
    ]
    messages = upstream(base(messages=[{"role": "user", "content": content}]))["messages"]
    assert messages == [{"role": "user", "content": "a"}]


def test_assistant_prefill_continues_the_final_message() -> None:
    out = upstream(
        base(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "{"}])
    )
    assert out["messages"][-1] == {"role": "assistant", "content": "{"}
    assert out["continue_final_message"] is True
    assert out["add_generation_prompt"] is False


def test_serialise_is_compact_deterministic_utf8() -> None:
    req = request(base(system="Grüße 日本", messages=[{"role": "user", "content": "é"}]))
    wire = serialise(req)
    assert wire == serialise(
        request(base(system="Grüße 日本", messages=[{"role": "user", "content": "é"}]))
    )
    assert "日本".encode() in wire and b": " not in wire[:40]
    assert json.loads(wire) == req.body


def test_serialise_escapes_lone_surrogates() -> None:
    wire = serialise(request(base(messages=[{"role": "user", "content": "a\ud800b"}])))
    assert b"\\ud800" in wire
    wire.decode("utf-8")


def test_request_is_not_mutated() -> None:
    body = base(
        system=[{"type": "text", "text": BILLING}, {"type": "text", "text": "S"}],
        messages=_tool_turns("r"),
        tools=[{"name": "n", "input_schema": {"properties": {}}}],
    )
    body["messages"].insert(1, {"role": "system", "content": "note"})
    snapshot = copy.deepcopy(body)
    request(body)
    assert body == snapshot
