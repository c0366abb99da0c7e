"""The OpenAI error envelope: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from autosred.proxy.body import BadRequest
from autosred.scaler import UnknownModel

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


def request_error(exc: BadRequest | UnknownModel) -> web.Response:
    """The answer to a request that names no servable model or whose body cannot be read."""
    if isinstance(exc, UnknownModel):
        return error_response(404, exc.message, param="model", code="model_not_found")
    return error_response(exc.status, exc.message, param=exc.param)


@dataclass(frozen=True)
class UpstreamError:
    """A model server's error, its status kept and its body put in the OpenAI envelope."""

    status: int
    message: str
    body: dict[str, Any]

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status)


def from_upstream(status: int, payload: bytes) -> UpstreamError:
    """vLLM answers ``{"error": {...}}`` (newer) or ``{"object": "error", "message": ...}``
    (older); anything else (an HTML proxy page, plain text) is wrapped with its first bytes."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if isinstance(data, dict):
        nested = data.get("error")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else data
        message = inner.get("message")
        if isinstance(message, str):
            body = error_body(
                status,
                message,
                type_=inner.get("type") if isinstance(inner.get("type"), str) else None,
                param=inner.get("param") if isinstance(inner.get("param"), str) else None,
                code=inner.get("code") if isinstance(inner.get("code"), str | int) else None,
            )
            return UpstreamError(status, message, body)
    text = payload[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
    message = f"model server answered {status}: {text}"
    return UpstreamError(status, message, error_body(status, message))
