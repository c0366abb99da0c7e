"""Error envelope and upstream error mapping (docs/conformance.md, cases 54-56), signatures,
tool ids."""

from __future__ import annotations

import json

import pytest

from autosred.proxy.anthropic import (
    AnthropicError,
    ThinkingSigner,
    UpstreamError,
    client_tool_id,
    map_upstream_error,
    rewrite_context_overflow,
    upstream_tool_id,
)
from autosred.proxy.context import new_request_id
from autosred.proxy.upstream import upstream_message

DOCUMENTED = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@pytest.mark.parametrize(("status", "kind"), sorted(DOCUMENTED.items()))
def test_case_54_envelope_per_status(status: int, kind: str) -> None:
    error = AnthropicError.for_status(status, "msg")
    assert (error.status, error.type) == (status, kind)
    assert error.envelope("req_1") == {
        "type": "error",
        "error": {"type": kind, "message": "msg"},
        "request_id": "req_1",
    }
    assert json.loads(error.to_json("req_1")) == error.envelope("req_1")


def test_case_54_undocumented_statuses_fall_back_to_the_vocabulary() -> None:
    assert AnthropicError.for_status(418, "x").type == "invalid_request_error"
    assert AnthropicError.for_status(418, "x").status == 400
    assert AnthropicError.for_status(502, "x").type == "api_error"
    assert AnthropicError.for_status(502, "x").status == 500
    assert new_request_id().startswith("req_") and new_request_id() != new_request_id()


def _vllm(message: str, code: int = 400, kind: str = "BadRequestError") -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (UpstreamError("http", 400, _vllm("bad")), 400, "invalid_request_error"),
        (
            UpstreamError("http", 422, {"detail": [{"loc": ["body", "x"], "msg": "bad"}]}),
            400,
            "invalid_request_error",
        ),
        (
            UpstreamError(
                "http", 404, _vllm("The model `x` does not exist.", 404, "NotFoundError")
            ),
            404,
            "not_found_error",
        ),
        (UpstreamError("http", 429, "slow down"), 429, "rate_limit_error"),
        (UpstreamError("http", 500, _vllm("boom", 500, "InternalServerError")), 500, "api_error"),
        (UpstreamError("http", 502, b"<html>bad gateway</html>"), 500, "api_error"),
        (UpstreamError("http", 503, _vllm("Service Unavailable", 503)), 529, "overloaded_error"),
        (UpstreamError("http", 401, "no"), 500, "api_error"),
        (UpstreamError("http", 413, "too big"), 413, "request_too_large"),
        (UpstreamError("connect", detail="Connection refused"), 529, "overloaded_error"),
        (UpstreamError("timeout"), 500, "api_error"),
        (UpstreamError("closed"), 500, "api_error"),
        (UpstreamError("protocol", detail="bad json"), 500, "api_error"),
        (UpstreamError("aborted"), 500, "api_error"),
    ],
)
def test_case_55_upstream_status_mapping(error: UpstreamError, status: int, kind: str) -> None:
    mapped = map_upstream_error(error)
    assert (mapped.status, mapped.type) == (status, kind)
    assert mapped.message


def test_case_55_messages_are_taken_from_vllm_bodies() -> None:
    assert upstream_message(_vllm("the reason")) == "the reason"
    assert upstream_message({"object": "error", "message": "old shape", "code": 400}) == "old shape"
    assert upstream_message(b'{"error": {"message": "bytes"}}') == "bytes"
    assert upstream_message('{"detail": "fastapi"}') == "fastapi"
    assert upstream_message("plain text") == "plain text"
    assert (
        upstream_message({"detail": [{"loc": ["body", "messages", 0], "msg": "bad"}]})
        == "messages.0: bad"
    )


OVERFLOWS = [
    # current vLLM (renderers/params.py)
    (
        "You passed 209601 input tokens and requested 32000 output tokens. However, the model's "
        "context length is only 200000 tokens, resulting in a maximum input length of 168000 "
        "tokens. Please reduce the length of the input prompt.",
        "prompt is too long: 209601 tokens > 200000 maximum",
    ),
    (
        "You passed 180000 input tokens and requested 32000 output tokens. However, the model's "
        "context length is only 200000 tokens, resulting in a maximum input length of 168000 "
        "tokens. Please reduce the length of the input prompt.",
        "input length and max_tokens exceed context limit: 180000 + 32000 > 200000, "
        "decrease input length or max_tokens and try again",
    ),
    (
        "You passed 900000 input characters and requested 1000 output tokens. However, the "
        "model's context length is only 32768 tokens, resulting in a maximum input length of "
        "31768 tokens (at most 794200 characters). Please reduce the length of the input prompt.",
        "prompt is too long: 36000 tokens > 32768 maximum",
    ),
    # get_max_tokens
    (
        "Input length (40000) exceeds model's maximum context length (32768).",
        "prompt is too long: 40000 tokens > 32768 maximum",
    ),
    # 0.1x serving engine
    (
        "This model's maximum context length is 32768 tokens. However, your request has 40000 "
        "input tokens. Please reduce the length of the input messages.",
        "prompt is too long: 40000 tokens > 32768 maximum",
    ),
    (
        "This model's maximum context length is 32768 tokens. However, your request has 32768 "
        "input tokens. Please reduce the length of the input messages.",
        "prompt is too long: 32768 tokens > 32767 maximum",
    ),
    (
        "This model's maximum context length is 131072 tokens. However, you requested 1024 "
        "output tokens and your prompt contains at least 130049 input tokens, for a total of at "
        "least 131073 tokens. Please reduce the length of the input prompt or the number of "
        "requested output tokens.",
        "input length and max_tokens exceed context limit: 130049 + 1024 > 131072, "
        "decrease input length or max_tokens and try again",
    ),
    (
        "This model's maximum context length is 4096 tokens. However, you requested 64 output "
        "tokens and your prompt contains 5000 input tokens, for a total of 5064 tokens. Please "
        "reduce the length of the input prompt or the number of requested output tokens. "
        "(parameter=input_tokens, value=5000)",
        "prompt is too long: 5000 tokens > 4096 maximum",
    ),
    (
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum "
        "context length is 4096 tokens and your request has 2778 input tokens (8000 > 4096 - "
        "2778).",
        "input length and max_tokens exceed context limit: 2778 + 8000 > 4096, "
        "decrease input length or max_tokens and try again",
    ),
    # older serving engine
    (
        "This model's maximum context length is 131072 tokens. However, you requested 150000 "
        "tokens (146000 in the messages, 4000 in the completion). Please reduce the length of "
        "the messages or completion.",
        "prompt is too long: 146000 tokens > 131072 maximum",
    ),
    # input processor
    (
        "The decoder prompt (length 140000) is longer than the maximum model length of 131072. "
        "Make sure that `max_model_len` is no smaller than the number of text tokens.",
        "prompt is too long: 140000 tokens > 131072 maximum",
    ),
    # SGLang / Together
    (
        "The input (204281 tokens) is longer than the model's context length (202752 tokens).",
        "prompt is too long: 204281 tokens > 202752 maximum",
    ),
]


@pytest.mark.parametrize(("vllm", "anthropic"), OVERFLOWS)
def test_case_56_context_overflow_rewritten(vllm: str, anthropic: str) -> None:
    mapped = map_upstream_error(UpstreamError("http", 400, _vllm(vllm)))
    assert (mapped.status, mapped.type, mapped.message) == (400, "invalid_request_error", anthropic)


def test_case_56_uses_the_requested_max_tokens_when_vllm_omits_it() -> None:
    message = (
        "This model's maximum context length is 1000 tokens. However, your request has 900 "
        "input tokens. Please reduce the length of the input messages."
    )
    assert rewrite_context_overflow(message, requested_max_tokens=500) == (
        "input length and max_tokens exceed context limit: 900 + 500 > 1000, "
        "decrease input length or max_tokens and try again"
    )


def test_case_56_other_400s_are_left_alone() -> None:
    assert rewrite_context_overflow("temperature must be non-negative") is None
    assert rewrite_context_overflow("") is None
    mapped = map_upstream_error(UpstreamError("http", 400, _vllm("temperature must be >= 0")))
    assert mapped.message == "temperature must be >= 0"


def test_in_band_stream_error_takes_the_code_from_the_body() -> None:
    error = UpstreamError("http", body=_vllm("Service Unavailable", 503))
    assert map_upstream_error(error).type == "overloaded_error"


# -------------------------------------------------------------------------------- signatures


def test_signatures_verify_only_the_signed_text_under_the_same_key() -> None:
    signer = ThinkingSigner(b"k" * 32)
    signature = signer.sign("thought")
    assert signature and signer.verify("thought", signature)
    assert not signer.verify("thought!", signature)
    assert not ThinkingSigner(b"j" * 32).verify("thought", signature)
    assert not signer.verify("thought", None)
    assert not signer.verify("thought", signature[:-1])
    assert signer.sign("") and signer.verify("", signer.sign(""))
    with pytest.raises(ValueError, match="16 bytes"):
        ThinkingSigner(b"short")


# -------------------------------------------------------------------------------- tool ids


@pytest.mark.parametrize(
    "upstream_id",
    ["chatcmpl-tool-1a2b", "functions.Bash:0", "abcDEF123", "call_0", "日本", "a b/c+d="],
)
def test_case_39_tool_ids_round_trip(upstream_id: str) -> None:
    client = client_tool_id(upstream_id)
    assert client.startswith("toolu_")
    assert all(ch.isalnum() or ch in "_-" for ch in client)
    assert upstream_tool_id(client) == upstream_id


def test_case_39_foreign_ids_pass_through() -> None:
    for foreign in ("toolu_01ABCdef", "toolu_vrtx_01X", "call_abc", "toolu_asr_b!!!"):
        assert upstream_tool_id(foreign) == foreign
