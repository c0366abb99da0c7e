"""The Anthropic error envelope, and how upstream (vLLM) failures map onto it.

Claude Code steers on the error type and the HTTP status: 400 fails at once, 401/429/5xx/529
are retried, 404 reads as "model not found". A context overflow must say
``prompt is too long: N tokens > M maximum`` so that Claude Code compacts instead of giving up,
so vLLM's many wordings of that condition are parsed here and rewritten.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from aiohttp import web

from autosred.proxy.outcome import SurfaceError
from autosred.proxy.upstream import UNREACHABLE_RETRY_AFTER, UpstreamError, upstream_message

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "conflict_error",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
]

# The documented vocabulary (docs /en/api/errors); nothing else may reach a client.
STATUS_OF_TYPE: dict[ErrorType, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
TYPE_OF_STATUS: dict[int, ErrorType] = {status: kind for kind, status in STATUS_OF_TYPE.items()}


class AnthropicError(SurfaceError):
    """An error the Anthropic surface answers with; carries status, type and message, and
    the seconds a client should wait before retrying (``Retry-After``) where that helps."""

    def __init__(
        self, status: int, type: ErrorType, message: str, *, retry_after: int | str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type: ErrorType = type
        self.message = message
        self.retry_after = retry_after

    def response(self, request_id: str) -> web.Response:
        headers = {"Content-Type": "application/json"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return web.Response(status=self.status, body=self.to_json(request_id), headers=headers)

    def __repr__(self) -> str:
        return f"AnthropicError({self.status}, {self.type!r}, {self.message!r})"

    @classmethod
    def of_type(cls, type: ErrorType, message: str) -> AnthropicError:
        return cls(STATUS_OF_TYPE[type], type, message)

    @classmethod
    def invalid_request(cls, message: str) -> AnthropicError:
        return cls(400, "invalid_request_error", message)

    @classmethod
    def for_status(cls, status: int, message: str) -> AnthropicError:
        """The documented type for ``status``; undocumented 4xx/5xx fall back to 400/500."""
        kind = TYPE_OF_STATUS.get(status)
        if kind is None:
            kind = "invalid_request_error" if 400 <= status < 500 else "api_error"
            status = STATUS_OF_TYPE[kind]
        return cls(status, kind, message)

    def envelope(self, request_id: str | None = None) -> dict[str, Any]:
        """``{"type":"error","error":{"type","message"},"request_id"}``."""
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": self.type, "message": self.message},
        }
        if request_id is not None:
            body["request_id"] = request_id
        return body

    def to_json(self, request_id: str | None = None) -> bytes:
        return json.dumps(self.envelope(request_id), ensure_ascii=False).encode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# Upstream failures (UpstreamError and upstream_message live in proxy/upstream.py: every
# surface reports them)


def map_upstream_error(
    error: UpstreamError, *, requested_max_tokens: int | None = None
) -> AnthropicError:
    """Map a vLLM failure to the Anthropic error a client can act on.

    503, connection refused and connect timeouts become 529 ``overloaded_error`` (retried by
    Claude Code, after the server's ``Retry-After`` or ``UNREACHABLE_RETRY_AFTER``); context
    overflows become ``prompt is too long: N tokens > M maximum``.
    """
    mapped = _mapped(error, requested_max_tokens)
    if error.retry_after is not None:
        mapped.retry_after = error.retry_after
    elif mapped.type == "overloaded_error" and error.kind in ("connect", "http"):
        mapped.retry_after = UNREACHABLE_RETRY_AFTER
    return mapped


def _mapped(error: UpstreamError, requested_max_tokens: int | None) -> AnthropicError:
    if error.kind == "connect":
        return AnthropicError.of_type(
            "overloaded_error", "Overloaded: the model server is not reachable"
        )
    if error.kind == "timeout":
        return AnthropicError.of_type("api_error", "The model server stopped responding")
    if error.kind == "closed":
        return AnthropicError.of_type(
            "api_error", "The model server closed the stream before the message was complete"
        )
    if error.kind == "protocol":
        detail = f": {error.detail}" if error.detail else ""
        return AnthropicError.of_type(
            "api_error", f"Unreadable reply from the model server{detail}"
        )
    if error.kind == "aborted":
        return AnthropicError.of_type("api_error", "The model server aborted the request")

    message = upstream_message(error.body) or error.detail
    status = error.status
    if status is None:  # an in-band stream error: vLLM puts the HTTP-ish code inside
        code = error.body.get("error", {}).get("code") if isinstance(error.body, dict) else None
        status = code if isinstance(code, int) and not isinstance(code, bool) else 500
    if status in (400, 413, 422) or (400 <= status < 500 and status not in _PASS_4XX):
        overflow = rewrite_context_overflow(message, requested_max_tokens=requested_max_tokens)
        if overflow is not None:
            return AnthropicError.invalid_request(overflow)
    if status == 503:
        return AnthropicError.of_type("overloaded_error", message or "Overloaded")
    if status in (401, 403):
        # The client's own credentials are checked by the daemon; an upstream refusal is a
        # daemon configuration fault, not something the client can fix by logging in.
        return AnthropicError.of_type(
            "api_error", f"The model server refused the daemon's credentials ({status})"
        )
    if status == 404:
        return AnthropicError.of_type("not_found_error", message or "Not found")
    if status == 413:
        return AnthropicError.of_type("request_too_large", message or "Request too large")
    if status == 429:
        return AnthropicError.of_type("rate_limit_error", message or "Rate limited")
    if 400 <= status < 500:  # incl. 422 pydantic validation
        return AnthropicError.invalid_request(message or f"Bad request ({status})")
    return AnthropicError.of_type("api_error", message or f"Upstream error ({status})")


_PASS_4XX = frozenset({401, 403, 404, 429})

# --------------------------------------------------------------------------------------------
# Context overflow: vLLM's wordings (all versions seen in its source) -> numbers.
#
#   renderers/params.py (current):
#     "You passed N input tokens and requested O output tokens. However, the model's context
#      length is only M tokens, resulting in a maximum input length of I tokens. …"
#     "You passed C input characters and requested O output tokens. However, the model's
#      context length is only M tokens, resulting in a maximum input length of I tokens
#      (at most X characters). …"
#   entrypoints/utils.py get_max_tokens:
#     "Input length (N) exceeds model's maximum context length (M)."
#   serving engine (0.1x):
#     "This model's maximum context length is M tokens. However, your request has N input
#      tokens. …"
#     "This model's maximum context length is M tokens. However, you requested O output tokens
#      and your prompt contains [at least ]N input tokens, for a total of [at least ]T tokens. …"
#     "This model's maximum context length is M tokens. However, you requested O output tokens
#      and your prompt contains C characters (more than X characters, which is the upper bound
#      for I input tokens). …"
#     "'max_tokens' or 'max_completion_tokens' is too large: O. This model's maximum context
#      length is M tokens and your request has N input tokens (O > M - N)."
#   older serving engine:
#     "This model's maximum context length is M tokens. However, you requested T tokens
#      (N in the messages, O in the completion). …" / "… you requested N tokens in the messages"
#   input processor:
#     "The decoder prompt (length N) is longer than the maximum model length of M. …"
#   other OpenAI-compatible servers (SGLang, Together):
#     "The input (N tokens) is longer than the model's context length (M tokens)."

_INT = r"(\d[\d,]*)"
_MAX_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"maximum context length is {_INT}",
        rf"context length is only {_INT}",
        rf"maximum context length \({_INT}\)",
        rf"maximum model length of {_INT}",
        rf"model's context length \({_INT} tokens\)",
    )
)
_PROMPT_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"You passed {_INT} input tokens",
        # "at least" only when vLLM stopped tokenising early; the exact count otherwise
        rf"prompt contains (?:at least )?{_INT} input tokens",
        rf"request has {_INT} input tokens",
        rf"\({_INT} in the messages",
        rf"requested {_INT} tokens in the messages",
        rf"Input length \({_INT}\)",
        rf"prompt \(length {_INT}\)",
        rf"The input \({_INT} tokens\)",
    )
)
_OUTPUT_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"requested {_INT} output tokens",
        rf"{_INT} in the completion",
        rf"is too large: {_INT}",
    )
)
# Character pre-checks: the prompt was never tokenized, only its length in characters and the
# characters-per-token bound vLLM used are known.
_CHAR_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE | re.DOTALL)
    for p in (
        rf"passed (?P<c>{_INT}) input characters.*?maximum input length of (?P<i>{_INT}) tokens"
        rf" \(at most (?P<x>{_INT}) characters",
        rf"contains (?P<c>{_INT}) characters \(more than (?P<x>{_INT}) characters, which is the"
        rf" upper bound for (?P<i>{_INT}) input tokens",
    )
)
_OVERFLOW_HINT = re.compile(
    r"context length|model length|context window|input length|prompt \(length|"
    r"is too large: \d|in the messages",
    re.IGNORECASE,
)


def _first(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return int(match.group(1).replace(",", ""))
    return None


def _prompt_from_characters(message: str) -> int | None:
    for pattern in _CHAR_PATTERNS:
        match = pattern.search(message)
        if match:
            chars, tokens_bound, chars_bound = (
                int(match.group(name).replace(",", "")) for name in ("c", "i", "x")
            )
            # vLLM's character bound is input-tokens x max-chars-per-token, so scaling by that
            # ratio gives a token count that errs low; it is at least one past the bound.
            per_token = chars_bound / tokens_bound if tokens_bound > 0 and chars_bound else 0.0
            estimate = math.ceil(chars / per_token) if per_token else chars
            return max(tokens_bound + 1, estimate)
    return None


def rewrite_context_overflow(
    message: str, *, requested_max_tokens: int | None = None
) -> str | None:
    """Anthropic's wording for a vLLM context overflow, or None when it is not one.

    ``prompt is too long: N tokens > M maximum`` when the prompt alone does not fit (Claude Code
    compacts); ``input length and max_tokens exceed context limit: N + O > M, …`` when only the
    output allowance is too big (Claude Code lowers max_tokens).
    """
    if not message or not _OVERFLOW_HINT.search(message):
        return None
    maximum = _first(_MAX_PATTERNS, message)
    if maximum is None:
        return None
    prompt = _first(_PROMPT_PATTERNS, message)
    output = _first(_OUTPUT_PATTERNS, message)
    if prompt is None:
        prompt = _prompt_from_characters(message)
    if prompt is None:
        return f"prompt is too long: more than {maximum} tokens ({message.strip()})"
    if output is None:
        output = requested_max_tokens
    if prompt >= maximum:
        # "M tokens > M maximum" would read as false; M-1 is the largest prompt that leaves
        # room for one output token.
        bound = maximum if prompt > maximum else maximum - 1
        return f"prompt is too long: {prompt} tokens > {bound} maximum"
    if output is not None and prompt + output > maximum:
        return (
            f"input length and max_tokens exceed context limit: {prompt} + {output} > "
            f"{maximum}, decrease input length or max_tokens and try again"
        )
    return f"prompt is too long: {prompt} tokens > {maximum - (output or 0)} maximum"
