"""vLLM-shaped errors.

Envelope: vLLM >= 0.10.1 answers every OpenAI-route error as
`{"error": {"message": str, "type": str, "param": str | null, "code": int}}` with the HTTP status
equal to `code` (`ErrorResponse(error=ErrorInfo(...))` in
vllm/entrypoints/openai/engine/protocol.py, built by `create_error_response` in
vllm/entrypoints/serve/exception_handling/error_response.py).
vLLM 0.10.0 and older used a flat `{"object": "error", "message", ...}`; the simulator speaks the
current envelope only.

Validation errors carry `param`, and their message ends with ` (parameter=<p>, value=<v>)`
because vLLM formats them with `VLLMValidationError.__str__` (vllm/exceptions.py, v0.14+).
"""

from __future__ import annotations

import json
from http import HTTPStatus

from aiohttp import web

# The names vLLM gives error types (create_error_response and the exception classes it maps).
_TYPE_BY_STATUS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    501: "NotImplementedError",
    503: "ServiceUnavailableError",
}


def error_type_for(status: int) -> str:
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    try:
        return HTTPStatus(status).phrase.replace(" ", "") + "Error"
    except ValueError:
        return "Error"


def error_body(
    status: int, message: str, *, type_: str | None = None, param: str | None = None
) -> dict[str, object]:
    return {
        "error": {
            "message": message,
            "type": type_ or error_type_for(status),
            "param": param,
            "code": status,
        }
    }


class SimHTTPError(Exception):
    """Raised by a handler to answer with a vLLM error envelope."""

    def __init__(
        self, status: int, message: str, *, type_: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type_ = type_
        self.param = param

    def response(self) -> web.Response:
        body = error_body(self.status, self.message, type_=self.type_, param=self.param)
        return web.Response(
            status=self.status,
            text=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            content_type="application/json",
        )


def validation_error(message: str, *, parameter: str, value: object) -> SimHTTPError:
    """A 400 the way vLLM renders a `VLLMValidationError` (message + parameter/value suffix)."""
    return SimHTTPError(400, f"{message} (parameter={parameter}, value={value})", param=parameter)


def model_not_found(model: str) -> SimHTTPError:
    # vLLM OpenAIServing._check_model: NotFoundError, 404, param "model".
    return SimHTTPError(
        404, f"The model `{model}` does not exist.", type_="NotFoundError", param="model"
    )


def request_validation(loc: tuple[object, ...], kind: str, msg: str) -> SimHTTPError:
    """A malformed body. vLLM turns FastAPI's RequestValidationError into a 400 in its
    envelope whose message is the string of pydantic's error list; this mimics its look."""
    detail = {"type": kind, "loc": ("body", *loc), "msg": msg}
    return SimHTTPError(400, f"1 validation error:\n  {detail!r}")


def max_tokens_over_window(parameter: str, max_tokens: int, max_model_len: int) -> SimHTTPError:
    # vLLM >= 0.18, vllm/renderers/params.py TokenizeParams.__post_init__ (its f-string uses
    # `{max_total_tokens=}`, hence the odd "max_model_len=max_total_tokens=N").
    return validation_error(
        f"{parameter}={max_tokens} cannot be greater than "
        f"max_model_len=max_total_tokens={max_model_len}. Please request fewer output tokens.",
        parameter=parameter,
        value=max_tokens,
    )


def context_overflow(prompt_tokens: int, max_tokens: int, max_model_len: int) -> SimHTTPError:
    """Prompt + requested output over the window.

    Wording of vLLM >= 0.18 (vllm/renderers/params.py, the renderer's token-length check), as
    current servers answer it, e.g. "This model's maximum context length is 32768 tokens.
    However, you requested 32000 output tokens and your prompt contains 769 input tokens, for a
    total of 32769 tokens. Please reduce the length of the input prompt or the number of
    requested output tokens. (parameter=input_tokens, value=769)". vLLM says "at least" before
    the counts when it stopped tokenizing early; the toy tokenizer always counts exactly, so the
    simulator never does. Older servers (0.10.2-0.17) said "'max_tokens' or
    'max_completion_tokens' is too large: M. This model's maximum context length is N tokens and
    your request has T input tokens (M > N - T)."; clients should match on
    "maximum context length is (\\d+) tokens", which both wordings contain.
    """
    total = prompt_tokens + max_tokens
    return validation_error(
        f"This model's maximum context length is {max_model_len} tokens. However, you requested "
        f"{max_tokens} output tokens and your prompt contains {prompt_tokens} input tokens, "
        f"for a total of {total} tokens. Please reduce the length of the input prompt or the "
        "number of requested output tokens.",
        parameter="input_tokens",
        value=prompt_tokens,
    )
