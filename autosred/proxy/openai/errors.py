"""The OpenAI error envelope: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

from autosred.proxy.body import BadRequest
from autosred.proxy.outcome import SurfaceError
from autosred.proxy.upstream import UNREACHABLE_RETRY_AFTER, UpstreamError
from autosred.scaler import ModelUnavailable, UnknownModel

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "service_unavailable",
}


def error_body(
    status: int,
    message: str,
    *,
    type_: str | None = None,
    param: str | None = None,
    code: str | int | None = None,
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": type_
            or _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code if code is not None else status,
        }
    }


def error_response(
    status: int,
    message: str,
    *,
    type_: str | None = None,
    param: str | None = None,
    code: str | int | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.json_response(
        error_body(status, message, type_=type_, param=param, code=code),
        status=status,
        headers=headers,
    )


@dataclass(eq=False)  # not frozen: raising sets __traceback__
class OpenAIError(SurfaceError):
    """An error in the OpenAI envelope: an HTTP status, the OpenAI error fields, and the
    seconds a client should wait before retrying (``Retry-After``) where that helps."""

    status: int
    message: str
    type: str | None = None
    """OpenAI error type; None: the envelope's default for ``status``."""
    code: str | int | None = None
    param: str | None = None
    retry_after: int | None = None

    @classmethod
    def unavailable(cls, exc: ModelUnavailable) -> Self:
        """A lease that could not be granted (hold cap, failed wake, shutdown): 503 with the
        gate's ETA as Retry-After, which OpenAI clients (Codex too) honour."""
        return cls(
            503,
            exc.reason,
            "service_unavailable",
            code=exc.kind,
            retry_after=max(1, math.ceil(exc.retry_after)),
        )

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        return error_body(
            self.status, self.message, type_=self.type, param=self.param, code=self.code
        )

    def response(self, request_id: str = "-") -> web.Response:
        headers = {"Content-Type": "application/json"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        payload = json.dumps(self.body(), ensure_ascii=False).encode("utf-8", "replace")
        return web.Response(status=self.status, body=payload, headers=headers)

    def in_band(self) -> bytes:
        """The error as one SSE event, the way OpenAI reports a failure after the 200."""
        return b"data: " + json.dumps(self.body(), ensure_ascii=False).encode() + b"\n\n"


def request_error(exc: BadRequest | UnknownModel) -> OpenAIError:
    """The error of a request that names no servable model or whose body cannot be read."""
    if isinstance(exc, UnknownModel):
        return OpenAIError(404, exc.message, param="model", code="model_not_found")
    return OpenAIError(exc.status, exc.message, param=exc.param)


def map_upstream_error(error: UpstreamError) -> OpenAIError:
    """The pass-through's answer for a model server's failure: its own status and envelope
    when it answered one (vLLM's ``{"error": {...}}`` or older ``{"object": "error", ...}``;
    anything else, an HTML proxy page or plain text, wrapped with its first bytes), else a
    503 (unreachable) or 502 (the answer broke off)."""
    if error.kind == "connect":
        return OpenAIError(
            503,
            f"the model server is unreachable: {error.detail}",
            "service_unavailable",
            retry_after=UNREACHABLE_RETRY_AFTER,
        )
    if error.kind == "timeout":
        return OpenAIError(504, "the model server stopped responding", "server_error")
    if error.kind != "http" or error.status is None:
        return OpenAIError(502, f"model server closed the stream: {error.detail}")
    status = error.status
    header = error.retry_after
    retry_after = int(header) if header is not None and header.isdigit() else None
    payload = error.body if isinstance(error.body, bytes) else b""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if isinstance(data, dict):
        nested = data.get("error")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else data
        message = inner.get("message")
        if isinstance(message, str):
            kind = inner.get("type")
            param = inner.get("param")
            code = inner.get("code")
            return OpenAIError(
                status,
                message,
                kind if isinstance(kind, str) else None,
                code if isinstance(code, str | int) else None,
                param if isinstance(param, str) else None,
                retry_after,
            )
    text = payload[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
    return OpenAIError(status, f"model server answered {status}: {text}", retry_after=retry_after)
