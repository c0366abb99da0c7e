"""Errors of the Responses surface: the OpenAI envelope before the first byte, the ``error``
object of ``response.failed`` after it, and how upstream (vLLM) failures map onto both.

Codex steers on the HTTP status before a stream starts (400 fails at once; 429 and 5xx are
retried, honouring ``Retry-After``) and on ``error.code`` inside ``response.failed``:
``context_length_exceeded`` is fatal (the user must compact), ``rate_limit_exceeded`` waits
for the "try again in Xs" of its message, anything else is retried (docs/conformance.md, case 80).
"""

from __future__ import annotations

import re
from dataclasses import replace

from autosred.proxy.openai.errors import OpenAIError
from autosred.proxy.upstream import UNREACHABLE_RETRY_AFTER, UpstreamError, upstream_message

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
PREVIOUS_RESPONSE_NOT_FOUND = "previous_response_not_found"


class ResponsesError(OpenAIError):
    """An error the surface answers with: the OpenAI envelope before the first byte, the
    ``error`` object of ``response.failed`` (``failure``) after it."""

    @classmethod
    def invalid(cls, message: str, *, param: str | None = None) -> ResponsesError:
        return cls(400, message, "invalid_request_error", param=param)

    def failure(self) -> dict[str, str]:
        """The ``error`` object of ``response.failed`` (codes Codex knows; else server_error)."""
        if self.code == CONTEXT_LENGTH_EXCEEDED:
            code = CONTEXT_LENGTH_EXCEEDED
        elif self.status == 429:
            code = "rate_limit_exceeded"
        elif self.status == 400:
            code = "invalid_prompt"
        else:
            code = "server_error"
        return {"code": code, "message": self.message}


def invalid(path: str, message: str) -> ResponsesError:
    """A 400 naming the offending field (``input.3.call_id: Field required``)."""
    return ResponsesError.invalid(f"{path}: {message}", param=path)


# --------------------------------------------------------------------------------------------
# Upstream failures

# vLLM's wordings of a context overflow across versions (see vLLM's renderers/params.py,
# entrypoints/utils.py and the older serving engine), and other OpenAI-compatible servers'.
_OVERFLOW = re.compile(
    r"maximum context length|context length is only|maximum model length|"
    r"model's context length|context window|Input length \(\d+\) exceeds|"
    r"is too large: \d+\. This model",
    re.IGNORECASE,
)


def is_context_overflow(message: str) -> bool:
    return bool(message) and _OVERFLOW.search(message) is not None


def map_upstream_error(error: UpstreamError) -> ResponsesError:
    """The error a Responses client can act on, for a vLLM failure (``_mapped``), with the
    server's ``Retry-After`` when it sent one."""
    mapped = _mapped(error)
    if error.retry_after is not None and error.retry_after.isdigit():
        mapped = replace(mapped, retry_after=int(error.retry_after))
    return mapped


def _mapped(error: UpstreamError) -> ResponsesError:
    """The error a Responses client can act on, for a vLLM failure.

    Connection refused/timeouts and 503 are 503 (retried); a context overflow is a 400 with
    code ``context_length_exceeded``; a refusal of the daemon's own credentials is a 502 (the
    client cannot fix it); other 4xx/5xx keep their status.
    """
    kind = error.kind
    if kind == "connect":
        return ResponsesError(
            503,
            "the model server is not reachable",
            "service_unavailable",
            retry_after=UNREACHABLE_RETRY_AFTER,
        )
    if kind == "timeout":
        return ResponsesError(504, "the model server stopped responding", "server_error")
    if kind == "closed":
        return ResponsesError(
            502, "the model server closed the stream before the response was complete"
        )
    if kind == "protocol":
        detail = f": {error.detail}" if error.detail else ""
        return ResponsesError(502, f"unreadable reply from the model server{detail}")
    if kind == "aborted":
        return ResponsesError(502, "the model server aborted the request")
    message = upstream_message(error.body) or error.detail
    status = error.status
    if status is None:  # an in-band stream error: vLLM puts the HTTP-ish code inside
        inner = error.body.get("error") if isinstance(error.body, dict) else None
        code = inner.get("code") if isinstance(inner, dict) else None
        status = code if isinstance(code, int) and not isinstance(code, bool) else 500
    if 400 <= status < 500 and status not in (401, 403, 404, 429) and is_context_overflow(message):
        return ResponsesError(
            400, message, "invalid_request_error", code=CONTEXT_LENGTH_EXCEEDED, param="input"
        )
    if status in (401, 403):
        return ResponsesError(
            502, f"the model server refused the daemon's credentials ({status})", "server_error"
        )
    if status == 404:
        # The daemon resolved the model; the server not knowing it is a configuration fault.
        return ResponsesError(502, message or "the model server does not serve this model")
    if status == 422:
        status = 400
    if status == 503:
        return ResponsesError(503, message or "overloaded", "service_unavailable")
    if not 400 <= status < 600:
        status = 502
    return ResponsesError(status, message or f"upstream error ({status})")
