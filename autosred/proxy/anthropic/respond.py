"""The Anthropic errors of what the daemon itself refuses: bad bodies, unknown models, leases
that cannot be granted, and the app's own answers (unknown path, wrong method).

Claude Code steers on status and type (docs ``/en/api/errors``): 529 ``overloaded_error`` and
429 are retried honouring ``Retry-After``, 400 fails at once, 404 reads as "model not found".
Every body carries the ``request_id`` that the ``request-id`` header also carries.
"""

from __future__ import annotations

import math

from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.body import BadRequest
from autosred.scaler import ModelUnavailable, UnknownModel


def from_bad_request(exc: BadRequest) -> AnthropicError:
    if exc.status == 413:
        return AnthropicError.of_type("request_too_large", exc.message)
    return AnthropicError.for_status(exc.status, exc.message)


def from_unknown_model(exc: UnknownModel) -> AnthropicError:
    return AnthropicError.of_type("not_found_error", f"model: {exc.message}")


def from_unavailable(exc: ModelUnavailable) -> AnthropicError:
    """A lease that could not be granted (hold cap, failed wake, shutdown): 529 with the
    gate's ETA as Retry-After, which Claude Code honours."""
    error = AnthropicError.of_type("overloaded_error", f"Overloaded: {exc.reason}")
    error.retry_after = max(1, math.ceil(exc.retry_after))
    return error


def for_status(status: int, message: str) -> AnthropicError:
    """An error of the app itself (unknown path, wrong method, body too large) in the
    documented vocabulary; its HTTP status stays as it is (a 405 is still a 405)."""
    return AnthropicError(status, AnthropicError.for_status(status, message).type, message)
