"""HTTP answers of the Anthropic surface: error envelopes with their status and headers.

Claude Code steers on status and type (docs ``/en/api/errors``): 529 ``overloaded_error`` and
429 are retried honouring ``Retry-After``, 400 fails at once, 404 reads as "model not found".
Every body carries the ``request_id`` that the ``request-id`` header also carries.
"""

from __future__ import annotations

import math

from aiohttp import web

from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.body import BadRequest
from autosred.scaler import ModelUnavailable, UnknownModel


def error_response(
    error: AnthropicError, request_id: str, *, retry_after: str | int | None = None
) -> web.Response:
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return web.Response(status=error.status, body=error.to_json(request_id), headers=headers)


def from_bad_request(exc: BadRequest) -> AnthropicError:
    if exc.status == 413:
        return AnthropicError.of_type("request_too_large", exc.message)
    return AnthropicError.for_status(exc.status, exc.message)


def from_unknown_model(exc: UnknownModel) -> AnthropicError:
    return AnthropicError.of_type("not_found_error", f"model: {exc.message}")


def from_unavailable(exc: ModelUnavailable) -> tuple[AnthropicError, int]:
    """A lease that could not be granted (hold cap, failed wake, shutdown): 529 with the
    gate's ETA as Retry-After, which Claude Code honours."""
    retry_after = max(1, math.ceil(exc.retry_after))
    return AnthropicError.of_type("overloaded_error", f"Overloaded: {exc.reason}"), retry_after


def for_status(status: int, message: str) -> AnthropicError:
    """An error of the app itself (unknown path, wrong method, body too large) in the
    documented vocabulary; its HTTP status stays as it is (a 405 is still a 405)."""
    return AnthropicError(status, AnthropicError.for_status(status, message).type, message)
