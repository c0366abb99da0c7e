"""Streaming translation: vLLM chunks -> Anthropic events.

docs/conformance.md, cases 15-25, 35-38, 42-44, 58.
"""

from __future__ import annotations

import json
import re

import pytest

from autosred.proxy.anthropic import (
    AnthropicError,
    Event,
    MessageStreamTranslator,
    UpstreamError,
    client_tool_id,
    encode_events,
    message_from_events,
)
from tests.proxy.anthropic.anth_helpers import (
    MODEL,
    SIGNER,
    check_grammar,
    run,
    shapes,
    translator,
)
from tests.proxy.chunks import chunk, tool_delta, usage, usage_chunk

ROLE = chunk({"role": "assistant", "content": ""}, usage=usage(1830, 0))

# docs/conformance.md §7.1: vLLM output "reasoning -> text -> one tool call".
GOLDEN_CHUNKS = [
    ROLE,
    chunk({"reasoning": "Need to list files."}, usage=usage(1830, 5)),
    chunk({"content": "Listing files."}, usage=usage(1830, 9)),
    chunk(
        tool_delta(0, id="chatcmpl-tool-1", name="Bash", args='{"command": "ls"}'),
        usage=usage(1830, 40),
    ),
    chunk({}, finish="tool_calls", usage=usage(1830, 41)),
    usage_chunk(1830, 41),
]


def test_case_15_golden_transcript_7_1() -> None:
    events = run(GOLDEN_CHUNKS)
    signature = SIGNER.sign("Need to list files.")
    assert [event.data for event in events] == [
        {
            "type": "message_start",
            "message": {
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 1830,
                    "output_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
        },
        {"type": "ping"},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Need to list files."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": signature},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Listing files."},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {
                "type": "tool_use",
                "id": client_tool_id("chatcmpl-tool-1"),
                "name": "Bash",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"command": "ls"}'},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"input_tokens": 1830, "output_tokens": 41},
        },
        {"type": "message_stop"},
    ]
    assert signature and client_tool_id("chatcmpl-tool-1").startswith("toolu_")


def test_case_15_frames_are_event_and_data_lines_without_done() -> None:
    wire = encode_events(run(GOLDEN_CHUNKS))
    frames = wire.split(b"\n\n")
    assert frames[-1] == b""
    for frame in frames[:-1]:
        name_line, data_line = frame.split(b"\n")
        name = name_line.removeprefix(b"event: ").decode()
        data = json.loads(data_line.removeprefix(b"data: "))
        assert data["type"] == name
    assert b"[DONE]" not in wire


def test_case_16_message_start_uses_real_prompt_tokens_and_cache_fields() -> None:
    events = run([chunk({"role": "assistant"}, usage=usage(777, 0)), chunk({}, finish="stop")])
    start = events[0].data["message"]
    assert start["usage"] == {
        "input_tokens": 777,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    assert start["content"] == [] and start["model"] == MODEL and start["id"].startswith("msg_")


def test_case_16_cached_prompt_tokens_are_reported_as_cache_reads() -> None:
    head = chunk({"role": "assistant"}, usage=usage(1000, 0))
    head["usage"]["prompt_tokens_details"] = {"cached_tokens": 800}
    events = run(
        [head, chunk({"content": "x"}), chunk({}, finish="stop"), usage_chunk(1000, 2, 800)]
    )
    assert events[0].data["message"]["usage"]["input_tokens"] == 200
    assert events[0].data["message"]["usage"]["cache_read_input_tokens"] == 800
    assert events[-2].data["usage"] == {
        "input_tokens": 200,
        "output_tokens": 2,
        "cache_read_input_tokens": 800,
    }


def test_case_17_indices_and_one_open_block_with_interleaving() -> None:
    events = run(
        [
            ROLE,
            chunk({"reasoning": "a"}),
            chunk({"content": "b"}),
            chunk({"reasoning": "c"}),
            chunk(tool_delta(0, id="t0", name="A", args="{}")),
            chunk({"content": "d"}),
            chunk({}, finish="stop"),
            usage_chunk(1, 2),
        ]
    )
    check_grammar(events)
    starts = [e.data["content_block"]["type"] for e in events if e.type == "content_block_start"]
    assert starts == ["thinking", "text", "thinking", "tool_use", "text"]


def test_case_18_role_only_and_empty_deltas_produce_no_blocks() -> None:
    t = translator()
    first = t.feed(ROLE)
    assert [e.type for e in first] == ["message_start", "ping"]
    assert t.feed(chunk({"content": ""})) == []
    assert t.feed(chunk({"reasoning": None, "content": None, "tool_calls": []})) == []
    assert t.feed(chunk({})) == []


def test_case_18_whitespace_only_text_before_a_tool_call_opens_no_block() -> None:
    events = run(
        [
            ROLE,
            chunk({"content": "\n\n"}),
            chunk(tool_delta(0, id="t", name="Bash", args='{"a": 1}')),
            chunk({}, finish="tool_calls"),
            usage_chunk(1, 2),
        ]
    )
    assert [s for s in shapes(events) if s[0] == "content_block_start"] == [
        ("content_block_start", 0, "tool_use")
    ]


def test_case_18_leading_whitespace_of_real_text_is_kept() -> None:
    events = run(
        [ROLE, chunk({"content": "\n"}), chunk({"content": "Hi"}), chunk({}, finish="stop")]
    )
    assert message_from_events(events)["content"] == [{"type": "text", "text": "\nHi"}]


def test_case_19_content_in_the_first_chunk_is_emitted() -> None:
    events = run(
        [
            chunk({"role": "assistant", "content": "Hello"}, usage=usage(3, 1)),
            chunk({}, finish="stop"),
        ]
    )
    assert shapes(events)[:4] == [
        ("message_start",),
        ("ping",),
        ("content_block_start", 0, "text"),
        ("content_block_delta", 0, "text_delta"),
    ]
    assert events[3].data["delta"]["text"] == "Hello"


def test_case_19_reasoning_and_content_in_one_chunk_are_both_emitted() -> None:
    events = run([ROLE, chunk({"reasoning": "r", "content": "c"}), chunk({}, finish="stop")])
    message = message_from_events(events)
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    assert message["content"][1]["text"] == "c"


def test_case_20_finish_then_usage_chunk_gives_one_message_delta_with_final_usage() -> None:
    t = translator()
    events = run(
        [
            ROLE,
            chunk({"content": "hi"}, usage=usage(1830, 1)),
            chunk({}, finish="stop", usage=usage(1830, 2)),
        ],
        t,
        close=False,
    )
    assert "message_delta" not in [e.type for e in events]
    tail = t.feed(usage_chunk(1830, 3))
    assert [e.data for e in tail] == [
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"input_tokens": 1830, "output_tokens": 3},
        },
        {"type": "message_stop"},
    ]
    assert t.feed(chunk({"content": "late"})) == []
    assert t.close() == []


def test_case_21_no_usage_chunk_still_ends_the_message() -> None:
    events = run([chunk({"content": "a"}), chunk({"content": "b"}), chunk({}, finish="stop")])
    check_grammar(events)
    delta = events[-2].data
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"] == {"input_tokens": 0, "output_tokens": 2}  # estimated from deltas


def test_case_22_stream_cut_before_finish_is_an_error_not_end_turn() -> None:
    events = run([ROLE, chunk({"content": "partial"})])
    assert events[-1].type == "error"
    assert events[-1].data["error"]["type"] == "api_error"
    assert "message_delta" not in [e.type for e in events]
    assert "message_stop" not in [e.type for e in events]


def test_case_24_early_start_and_keepalive_pings() -> None:
    t = translator(input_tokens=5000)  # estimate from /tokenize before the first byte
    first = t.start()
    assert [e.type for e in first] == ["message_start", "ping"]
    assert first[0].data["message"]["usage"]["input_tokens"] == 5000
    assert t.keepalive() == [Event("ping", {"type": "ping"})]
    events = run(
        [
            chunk({"role": "assistant"}, usage=usage(4321, 0)),
            chunk({}, finish="stop"),
            usage_chunk(4321, 1),
        ],
        t,
    )
    assert "message_start" not in [e.type for e in events]
    assert events[-2].data["usage"]["input_tokens"] == 4321  # corrected


def test_case_16_message_start_reports_the_estimate_unless_counted_or_told() -> None:
    estimates: list[int] = []

    def estimate() -> int:
        estimates.append(777)
        return 777

    # Usage is asked for only at the end, so the first chunk has none: the estimate.
    t = translator(prompt_estimate=estimate)
    role = chunk({"role": "assistant"})
    events = run([role, chunk({"content": "hi"}), chunk({}, finish="stop"), usage_chunk(40, 1)], t)
    assert events[0].data["message"]["usage"]["input_tokens"] == 777
    assert events[-2].data["usage"]["input_tokens"] == 40
    assert estimates == [777]  # once, and only because it was needed
    # Counted by /tokenize (the request was fitted to the context): that count, no estimate.
    t = translator(prompt_estimate=estimate)
    t.expect_input_tokens(1234)
    assert t.start()[0].data["message"]["usage"]["input_tokens"] == 1234
    # A server that sends usage before the first token (continuous_usage_stats): its count.
    t = translator(prompt_estimate=estimate)
    first = t.feed(chunk({"role": "assistant"}, usage=usage(4321, 0)))
    assert first[0].data["message"]["usage"]["input_tokens"] == 4321
    assert estimates == [777]


def test_case_25_content_and_finish_in_one_chunk() -> None:
    events = run([chunk({"content": "all at once"}, finish="stop", usage=usage(4, 3))])
    assert shapes(events) == [
        ("message_start",),
        ("ping",),
        ("content_block_start", 0, "text"),
        ("content_block_delta", 0, "text_delta"),
        ("content_block_stop", 0),
        ("message_delta",),
        ("message_stop",),
    ]


def test_case_09_stop_sequence_reported() -> None:
    events = run(
        [
            ROLE,
            chunk({"content": "abc"}),
            chunk({}, finish="stop", stop_reason="ZZ"),
            usage_chunk(1, 1),
        ]
    )
    assert events[-2].data["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "ZZ"}


def test_case_10_finish_reason_mapping_in_the_stream() -> None:
    cases = {
        "stop": "end_turn",
        "length": "max_tokens",
        "content_filter": "refusal",
        "something_new": "end_turn",
    }
    for finish, expected in cases.items():
        events = run([ROLE, chunk({"content": "x"}), chunk({}, finish=finish)])
        assert events[-2].data["delta"]["stop_reason"] == expected, finish
    # A named/required tool choice finishes with "stop" though a call was made.
    events = run(
        [ROLE, chunk(tool_delta(0, id="t", name="A", args="{}")), chunk({}, finish="stop")]
    )
    assert events[-2].data["delta"]["stop_reason"] == "tool_use"
    events = run(
        [ROLE, chunk(tool_delta(0, id="t", name="A", args='{"a"')), chunk({}, finish="length")]
    )
    assert events[-2].data["delta"]["stop_reason"] == "max_tokens"


def test_case_14_no_output_at_all_gives_no_blocks() -> None:
    events = run([ROLE, chunk({"content": ""}), chunk({}, finish="stop"), usage_chunk(1, 0)])
    assert shapes(events) == [("message_start",), ("ping",), ("message_delta",), ("message_stop",)]


# -------------------------------------------------------------------------------- tools


def test_case_35_first_chunk_arguments_are_not_dropped() -> None:
    events = run(
        [
            ROLE,
            chunk(tool_delta(0, id="chatcmpl-tool-1", name="Bash", args='{"cmd":')),
            chunk(tool_delta(0, args=' "ls"}')),
            chunk({}, finish="tool_calls"),
        ]
    )
    start = events[2].data
    assert start["content_block"] == {
        "type": "tool_use",
        "id": client_tool_id("chatcmpl-tool-1"),
        "name": "Bash",
        "input": {},
    }
    deltas = [e.data["delta"]["partial_json"] for e in events if e.type == "content_block_delta"]
    assert deltas == ['{"cmd":', ' "ls"}']


def test_case_36_index_only_fragments_concatenate_to_the_full_arguments() -> None:
    arguments = '{"command": "ls -la /tmp", "description": "List"}'
    pieces = [arguments[i : i + 5] for i in range(0, len(arguments), 5)]
    chunks = [ROLE, chunk(tool_delta(0, id="t", name="Bash"))]
    chunks += [chunk(tool_delta(0, args=piece)) for piece in pieces]
    events = run([*chunks, chunk({}, finish="tool_calls")])
    joined = "".join(
        e.data["delta"]["partial_json"] for e in events if e.type == "content_block_delta"
    )
    assert joined == arguments
    assert message_from_events(events)["content"][0]["input"] == json.loads(arguments)


def test_case_37_two_sequential_tool_calls() -> None:
    events = run(
        [
            ROLE,
            chunk(tool_delta(0, id="a", name="A", args='{"x": 1}')),
            chunk(tool_delta(1, id="b", name="B", args='{"y":')),
            chunk(tool_delta(1, args=" 2}")),
            chunk({}, finish="tool_calls"),
        ]
    )
    check_grammar(events)
    message = message_from_events(events)
    assert [(b["name"], b["input"]) for b in message["content"]] == [
        ("A", {"x": 1}),
        ("B", {"y": 2}),
    ]


def test_case_37_interleaved_fragments_are_buffered_not_lost() -> None:
    events = run(
        [
            ROLE,
            chunk(tool_delta(0, id="a", name="A", args='{"x": ')),
            chunk(tool_delta(1, id="b", name="B", args='{"y": ')),
            chunk(tool_delta(0, args="1}")),
            chunk(tool_delta(1, args="2}")),
            chunk({}, finish="tool_calls"),
        ]
    )
    check_grammar(events)
    message = message_from_events(events)
    assert [(b["name"], b["input"]) for b in message["content"]] == [
        ("A", {"x": 1}),
        ("B", {"y": 2}),
    ]


def test_case_37_several_calls_in_one_chunk() -> None:
    both = {
        "tool_calls": [
            {"index": 0, "id": "a", "function": {"name": "A", "arguments": "{}"}},
            {"index": 1, "id": "b", "function": {"name": "B", "arguments": "{}"}},
        ]
    }
    events = run([ROLE, chunk(both), chunk({}, finish="tool_calls")])
    check_grammar(events)
    assert [b["name"] for b in message_from_events(events)["content"]] == ["A", "B"]


def test_case_30_parallel_disabled_keeps_only_the_first_call() -> None:
    t = translator(single_tool_call=True)
    events = run(
        [
            ROLE,
            chunk(tool_delta(0, id="a", name="A", args="{}")),
            chunk(tool_delta(1, id="b", name="B", args="{}")),
            chunk({}, finish="tool_calls"),
        ],
        t,
    )
    assert [b["name"] for b in message_from_events(events)["content"]] == ["A"]
    assert t.anomalies


def test_case_38_truncated_arguments_still_close_the_block() -> None:
    events = run(
        [
            ROLE,
            chunk(tool_delta(0, id="a", name="A", args='{"path": "/very/lo')),
            chunk({}, finish="length"),
            usage_chunk(10, 64),
        ]
    )
    check_grammar(events)
    assert events[-2].data["delta"]["stop_reason"] == "max_tokens"


def test_case_39_missing_upstream_tool_id_gets_a_stable_one() -> None:
    events = run([ROLE, chunk(tool_delta(0, name="A", args="{}")), chunk({}, finish="tool_calls")])
    block = events[2].data["content_block"]
    assert block["id"].startswith("toolu_") and len(block["id"]) > len("toolu_")


def test_tool_name_arriving_after_the_arguments() -> None:
    events = run(
        [
            ROLE,
            chunk(tool_delta(0, id="a", args='{"x":')),
            chunk(tool_delta(0, name="A", args=" 1}")),
            chunk({}, finish="tool_calls"),
        ]
    )
    check_grammar(events)
    assert message_from_events(events)["content"][0] == {
        "type": "tool_use",
        "id": client_tool_id("a"),
        "name": "A",
        "input": {"x": 1},
    }


# -------------------------------------------------------------------------------- thinking


def test_case_42_reasoning_and_legacy_reasoning_content() -> None:
    for field in ("reasoning", "reasoning_content"):
        events = run(
            [ROLE, chunk({field: "think"}), chunk({"content": "answer"}), chunk({}, finish="stop")]
        )
        assert shapes(events)[2:6] == [
            ("content_block_start", 0, "thinking"),
            ("content_block_delta", 0, "thinking_delta"),
            ("content_block_delta", 0, "signature_delta"),
            ("content_block_stop", 0),
        ]
        assert events[3].data["delta"] == {"type": "thinking_delta", "thinking": "think"}
        signature = events[4].data["delta"]["signature"]
        assert signature and SIGNER.verify("think", signature)


def test_case_42_signature_covers_all_thinking_deltas() -> None:
    events = run(
        [
            ROLE,
            chunk({"reasoning": "Need "}),
            chunk({"reasoning": "to list."}),
            chunk({}, finish="stop"),
        ]
    )
    message = message_from_events(events)
    thinking = message["content"][0]
    assert thinking["thinking"] == "Need to list."
    assert SIGNER.verify("Need to list.", thinking["signature"])


def test_case_43_reasoning_resuming_after_a_tool_call_opens_a_new_block() -> None:
    events = run(
        [
            ROLE,
            chunk({"reasoning": "first"}),
            chunk(tool_delta(0, id="a", name="A", args="{}")),
            chunk({"reasoning": "second"}),
            chunk({"content": "done"}),
            chunk({}, finish="stop"),
        ]
    )
    check_grammar(events)
    types = [b["type"] for b in message_from_events(events)["content"]]
    assert types == ["thinking", "tool_use", "thinking", "text"]


# -------------------------------------------------------------------------------- errors


def test_case_58_upstream_error_after_start_is_an_error_event() -> None:
    t = translator()
    run([ROLE, chunk({"content": "par"})], t, close=False)
    tail = t.close(UpstreamError("connect"))
    assert [e.data for e in tail] == [
        {
            "type": "error",
            "error": {
                "type": "overloaded_error",
                "message": "Overloaded: the model server is not reachable",
            },
        }
    ]
    assert t.close() == [] and t.feed(chunk({"content": "x"})) == []


def test_case_58_in_band_vllm_error_chunk() -> None:
    t = translator(request_id="req_1")
    events = run(
        [ROLE, {"error": {"message": "boom", "type": "InternalServerError", "code": 500}}],
        t,
        close=False,
    )
    assert events[-1].data == {
        "type": "error",
        "error": {"type": "api_error", "message": "boom"},
        "request_id": "req_1",
    }
    assert t.finished


def test_case_58_error_types_in_stream() -> None:
    cases: list[tuple[UpstreamError | AnthropicError, str]] = [
        (UpstreamError("http", status=503, body="busy"), "overloaded_error"),
        (UpstreamError("timeout"), "api_error"),
        (UpstreamError("http", status=404, body={"error": {"message": "no model"}}), "api_error"),
        (AnthropicError.of_type("overloaded_error", "waking failed"), "overloaded_error"),
    ]
    for error, expected in cases:
        t = translator()
        t.start()
        assert t.close(error)[0].data["error"]["type"] == expected


@pytest.mark.parametrize("finish", ["abort", "error"])
def test_a_failed_finish_is_an_error_never_end_turn(finish: str) -> None:
    events = run([ROLE, chunk({"content": "x"}), chunk({}, finish=finish)], close=False)
    assert events[-1].type == "error"
    assert all(event.type != "message_delta" for event in events)


def test_malformed_chunk_is_a_protocol_error_event() -> None:
    t = translator()
    events = t.feed({"choices": [{"delta": {"content": 5}}]})
    assert events[-1].type == "error" and t.finished
    t2 = translator()
    assert t2.feed({"choices": ["nonsense"]})[-1].type == "error"


def test_close_with_error_before_start() -> None:
    t = translator()
    assert [e.type for e in t.close(UpstreamError("connect"))] == ["error"]


def test_close_after_finish_without_usage_chunk() -> None:
    t = translator()
    run([ROLE, chunk({"content": "x"}), chunk({}, finish="stop")], t, close=False)
    assert [e.type for e in t.close()] == ["message_delta", "message_stop"]


def test_for_request_carries_client_model_and_parallel_flag() -> None:
    from tests.proxy.anthropic.anth_helpers import base, request

    req = request(
        base(
            model="claude-opus-4-5",
            tools=[{"name": "A", "input_schema": {"type": "object"}}],
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        )
    )
    t = MessageStreamTranslator.for_request(req, signer=SIGNER, input_tokens=12)
    start = t.start()[0].data["message"]
    assert start["model"] == "claude-opus-4-5"
    assert start["usage"]["input_tokens"] == 12
    events = run(
        [
            chunk(tool_delta(0, id="a", name="A", args="{}")),
            chunk(tool_delta(1, id="b", name="A", args="{}")),
            chunk({}, finish="tool_calls"),
        ],
        t,
    )
    assert len([e for e in events if e.type == "content_block_start"]) == 1


def test_encode_matches_generic_json_for_every_event() -> None:
    # The standard library's encoder is the reference the fast paths must match byte for byte.
    reference = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    events = run(
        [
            ROLE,
            chunk({"reasoning": 'quote " backslash \\ tab \t é 日本 \U0001f600'}),
            chunk({"content": "line\nbreak \u2028 </script>"}),
            chunk(tool_delta(0, id="functions.Bash:0", name="Bash", args='{"a": "\\u00e9"}')),
            chunk({}, finish="tool_calls"),
            usage_chunk(1, 1),
        ]
    )
    for event in events:
        expected = (
            b"event: "
            + event.type.encode()
            + b"\ndata: "
            + reference(event.data).encode()
            + b"\n\n"
        )
        assert event.encode() == expected
        assert re.fullmatch(rb"event: \w+\ndata: [^\n]*\n\n", event.encode())
