"""Units of the Responses surface: the reasoning sealer, the response store, error mapping,
the request mapper's edges, and the stream translator's corner cases."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

from autosred.proxy.responses import (
    ModelView,
    ReasoningSealer,
    ResponsesError,
    ResponseStore,
    UpstreamError,
    map_upstream_error,
    unwrap_custom_input,
)
from autosred.proxy.responses.reasoning import _b64
from tests.proxy.chunks import chunk, tool_delta
from tests.proxy.responses.resp_helpers import (
    ROLE_CHUNK,
    SEALER,
    assistant,
    base,
    call_output,
    check_lifecycle,
    decoded,
    function_call,
    messages,
    request,
    run,
    translator,
    upstream,
    user,
)

# ------------------------------------------------------------------------------ sealer


def test_sealer_round_trips_unicode_and_rejects_everything_else() -> None:
    text = "Ünïcödé reasoning — 思考 \ud83d\ude00 and a lone surrogate \ud800"
    sealed = SEALER.seal(text)
    assert sealed.startswith("asr1.") and SEALER.open(sealed) == text
    assert SEALER.open(SEALER.seal("")) == ""
    other = ReasoningSealer(b"a-different-daemon-key")
    for token in (other.seal(text), sealed + "x", sealed.replace(".", "", 2), "asr1.", None, 7):
        assert SEALER.open(token) is None
    with pytest.raises(ValueError):
        ReasoningSealer(b"short")


def test_sealer_refuses_a_decompression_bomb() -> None:
    payload = zlib.compress(b"a" * (20 * 1024 * 1024))
    mac = SEALER._mac(payload)
    bomb = "asr1." + _b64(payload) + "." + _b64(mac)
    assert SEALER.open(bomb) is None


# ------------------------------------------------------------------------------ store


def test_store_evicts_least_recently_used_by_count_and_bytes() -> None:
    store = ResponseStore(max_responses=2, max_bytes=100)
    assert store.put("a", [1], 10) and store.put("b", [2], 10)
    assert store.get("a") is not None  # a is now the most recent
    store.put("c", [3], 10)
    assert "b" not in store and "a" in store and "c" in store
    store.put("d", [4], 85)  # over the count: the least recently used (a) goes
    assert "a" not in store and store.bytes == 95 and len(store) == 2
    store.put("e", [5], 50)  # over the bytes: c, then d go
    assert list(store._entries) == ["e"] and store.bytes == 50
    assert not store.put("huge", [5], 101) and "huge" not in store
    store.put("e", [6], 5)  # replacing an entry re-counts its bytes
    assert store.bytes == 5
    stored = store.get("e")
    assert stored is not None and stored.items == (6,)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (UpstreamError("connect"), 503, None),
        (UpstreamError("timeout"), 504, None),
        (UpstreamError("closed"), 502, None),
        (UpstreamError("protocol", detail="junk"), 502, None),
        (UpstreamError("http", status=401, body=b"{}"), 502, None),
        (UpstreamError("http", status=404, body=b'{"error":{"message":"no model"}}'), 502, None),
        (UpstreamError("http", status=422, body=b'{"detail":[{"msg":"bad"}]}'), 400, None),
        (UpstreamError("http", status=429, body=b"slow down"), 429, None),
        (UpstreamError("http", status=503, body=b""), 503, None),
        (
            UpstreamError(
                "http",
                status=400,
                body=b'{"error":{"message":"Input length (5000) exceeds model\'s maximum '
                b'context length (4096)."}}',
            ),
            400,
            "context_length_exceeded",
        ),
        (
            UpstreamError(
                "http",
                body={
                    "error": {
                        "message": "The decoder prompt (length 9) "
                        "is longer than the maximum model length of 8.",
                        "code": 400,
                    }
                },
            ),
            400,
            "context_length_exceeded",
        ),
    ],
)
def test_upstream_errors_map_to_statuses_codex_acts_on(
    error: UpstreamError, status: int, code: str | None
) -> None:
    mapped = map_upstream_error(error)
    assert mapped.status == status and mapped.message
    assert mapped.code == code
    failure = mapped.failure()
    if code:
        assert failure["code"] == code
    elif status == 429:
        assert failure["code"] == "rate_limit_exceeded"
    else:
        assert failure["code"] in ("server_error", "invalid_prompt")


def test_error_response_carries_retry_after() -> None:
    response = map_upstream_error(UpstreamError("connect")).response()
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert response.body is not None
    assert json.loads(bytes(response.body))["error"]["type"] == "service_unavailable"  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ request edges


def test_tool_choice_forms() -> None:
    tools = [
        {"type": "function", "name": "exec_command"},
        {"type": "custom", "name": "apply_patch"},
    ]
    named = upstream(base(tools=tools, tool_choice={"type": "function", "name": "exec_command"}))
    assert named["tool_choice"] == {"type": "function", "function": {"name": "exec_command"}}
    custom = upstream(base(tools=tools, tool_choice={"type": "custom", "name": "apply_patch"}))
    assert custom["tool_choice"]["function"]["name"] == "apply_patch"
    allowed = upstream(base(tools=tools, tool_choice={"type": "allowed_tools", "mode": "required"}))
    assert allowed["tool_choice"] == "required"
    hosted = upstream(base(tools=tools, tool_choice={"type": "web_search"}))
    assert hosted["tool_choice"] == "auto"
    # A type that is no string is no tool the daemon knows (it once raised TypeError: a 500).
    for odd in ({"x": 1}, ["web_search"]):
        assert upstream(base(tools=tools, tool_choice={"type": odd}))["tool_choice"] == "auto"
    assert "tool_choice" not in upstream(base(tool_choice="required"))  # no tools: not sent
    with pytest.raises(ResponsesError, match="not in tools"):
        request(base(tools=tools, tool_choice={"type": "function", "name": "missing"}))


def test_text_formats_and_invalid_options() -> None:
    assert upstream(base(text={"format": {"type": "json_object"}}))["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in upstream(base(text={"format": {"type": "text"}}))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"text": {"format": {"type": "json_schema"}}}, "text.format.schema"),
        ({"max_output_tokens": True}, "max_output_tokens"),
        ({"top_p": 2}, "top_p"),
        ({"temperature": float("nan")}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"include": "all"}, "include"),
        ({"instructions": ["a"]}, "instructions"),
        ({"tools": [{"name": "f"}]}, "tools.0.type"),
        ({"tools": [{"type": {"web_search": 1}}]}, "tools.0.type"),
        ({"tools": [{"type": ["web_search"]}]}, "tools.0.type"),
        ({"reasoning": {"effort": 3}}, "reasoning.effort"),
        ({"input": [{"type": "message"}]}, "input.0.role"),
        ({"input": [{"type": "message", "role": "tool", "content": "x"}]}, "input.0.role"),
        ({"input": [call_output("A", 5)]}, "input.0.output"),
        ({"input": [{"type": "function_call_output", "call_id": "A"}]}, "input.0.output"),
        ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "image_url"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "file_id",
        ),
    ]
    for bad, field in cases:
        with pytest.raises(ResponsesError) as raised:
            request(base(**bad))
        assert raised.value.status == 400 and field in raised.value.message, (bad, raised.value)
        assert raised.value.param is not None


def test_images_and_files_follow_the_recipe() -> None:
    image = {"type": "input_image", "image_url": "https://x/a.png", "detail": "high"}
    item = {"role": "user", "content": [{"type": "input_text", "text": "see"}, image]}
    sent = upstream(base(input=[item]))["messages"][0]["content"]
    assert sent == [
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "high"}},
    ]
    placeholder = ModelView(served_model_name="m", images="placeholder")
    assert "image omitted" in upstream(base(input=[item]), placeholder)["messages"][0]["content"]
    with pytest.raises(ResponsesError, match="image"):
        request(base(input=[item]), ModelView(served_model_name="m", images="reject"))
    pdf = {"role": "user", "content": [{"type": "input_file", "file_data": "JVBER"}]}
    assert "file omitted" in upstream(base(input=[pdf]))["messages"][0]["content"]
    with pytest.raises(ResponsesError, match="file"):
        request(base(input=[pdf]), ModelView(served_model_name="m", documents="reject"))


def test_history_edges() -> None:
    # A call without output gets a placeholder; an output without a call is user text.
    sent = messages(user("q"), function_call("A"), user("never mind"), call_output("Z", "late"))
    assert sent[2]["role"] == "tool" and "interrupted" in sent[2]["content"]
    assert sent[3] == {"role": "user", "content": "never mind"}
    assert sent[4] == {"role": "user", "content": "Tool output for Z:\nlate"}
    # A repeated call id is dropped; text after tool calls is the next assistant turn.
    sent = messages(
        user("q"), function_call("A"), function_call("A"), call_output("A", "ok"), assistant("done")
    )
    assert len(sent[1]["tool_calls"]) == 1
    assert sent[2:] == [
        {"role": "tool", "tool_call_id": "A", "content": "ok"},
        {"role": "assistant", "content": "done"},
    ]
    # Namespaced calls go back under their flattened upstream name.
    item = dict(function_call("N", name="spawn_agent"), namespace="multi_agent_v1")
    sent = messages(user("q"), item, call_output("N", "spawned"))
    assert sent[1]["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"
    # Unknown and hosted item kinds are skipped.
    sent = messages(user("q"), {"type": "web_search_call", "id": "ws"}, {"type": "new_thing"})
    assert sent == [{"role": "user", "content": "q"}]


# ------------------------------------------------------------------------------ translator


def test_unwrap_custom_input() -> None:
    assert unwrap_custom_input('{"input": "raw"}') == "raw"
    assert unwrap_custom_input('{"patch": "raw"}') == "raw"
    assert unwrap_custom_input("*** Begin Patch") == "*** Begin Patch"
    assert unwrap_custom_input('"quoted"') == "quoted"
    assert unwrap_custom_input('{"a": 1}') == '{"a": 1}'
    assert unwrap_custom_input("[1]") == "[1]"


def test_whitespace_alone_opens_no_message_and_first_chunk_arguments_are_kept() -> None:
    payloads = decoded(
        run(
            [
                ROLE_CHUNK,
                chunk({"content": "\n\n"}),
                chunk(tool_delta(0, id="c", name="exec_command", args='{"cmd": "ls"}')),
                chunk({}, finish="tool_calls"),
            ]
        )
    )
    final = check_lifecycle(payloads)
    assert [item["type"] for item in final["output"]] == ["function_call"]
    assert final["output"][0]["arguments"] == '{"cmd": "ls"}'


def test_interleaved_call_fragments_are_buffered_not_lost() -> None:
    payloads = decoded(
        run(
            [
                chunk(tool_delta(0, id="a", name="exec_command", args='{"cmd": ')),
                chunk(tool_delta(1, id="b", name="exec_command", args='{"cmd": "b"}')),
                chunk(tool_delta(0, args='"a"}')),
                chunk({}, finish="tool_calls"),
            ]
        )
    )
    final = check_lifecycle(payloads)
    assert [(i["call_id"], i["arguments"]) for i in final["output"]] == [
        ("a", '{"cmd": "a"}'),
        ("b", '{"cmd": "b"}'),
    ]


def test_abort_bad_chunks_and_missing_usage() -> None:
    aborted = decoded(run([chunk({"content": "x"}), chunk({}, finish="abort")]))
    assert aborted[-1]["type"] == "response.failed"
    bad = decoded(run([chunk({"content": 5})]))
    assert bad[-1]["type"] == "response.failed"
    assert "bad chunk" in bad[-1]["response"]["error"]["message"]
    # finish_reason without a usage chunk: completed at close, output counted from deltas.
    t = translator()
    final = check_lifecycle(decoded(run([chunk({"content": "a"}), chunk({}, finish="stop")], t)))
    assert final["usage"]["output_tokens"] == 1 and final["usage"]["input_tokens"] == 0


def test_unknown_tool_names_and_nameless_calls() -> None:
    t = translator(request(base(tools=[{"type": "function", "name": "known"}])))
    payloads = decoded(
        run(
            [
                chunk(tool_delta(0, id="x", name="made_up", args="{}")),
                chunk(tool_delta(1, id="y", args="{}")),
                chunk({}, finish="tool_calls"),
            ],
            t,
        )
    )
    final = check_lifecycle(payloads)
    assert [item["name"] for item in final["output"]] == ["made_up"]
    assert any("never had a name" in anomaly for anomaly in t.anomalies)


def test_namespaced_call_comes_back_with_its_namespace() -> None:
    tools = [{"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "go"}]}]
    t = translator(request(base(tools=tools)))
    final = check_lifecycle(
        decoded(
            run(
                [
                    chunk(tool_delta(0, id="n", name="ns__go", args="{}")),
                    chunk({}, finish="tool_calls"),
                ],
                t,
            )
        )
    )
    item = final["output"][0]
    assert (item["name"], item["namespace"], item["type"]) == ("go", "ns", "function_call")


def test_non_ascii_and_control_characters_survive_the_templates() -> None:
    text = 'héllo 😀 "quoted" \\ back\nslash\t\x00 100% done'
    payloads = decoded(
        run([chunk({"content": text}), chunk({"reasoning": text}), chunk({}, finish="stop")])
    )
    deltas = [p["delta"] for p in payloads if p["type"].endswith(".delta")]
    assert deltas == [text, text]
    assert check_lifecycle(payloads)["output"][0]["content"][0]["text"] == text
