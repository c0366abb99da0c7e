"""Validation of the request fields chat and completions share, with vLLM's rules and wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autosred.sim.errors import (
    SimHTTPError,
    context_overflow,
    max_tokens_over_window,
    model_not_found,
    request_validation,
    validation_error,
)


@dataclass(frozen=True, slots=True)
class GenerationParams:
    stream: bool
    include_usage: bool
    continuous_usage: bool
    stop: tuple[str, ...]
    max_tokens: int | None
    """What the client asked for (None: not given)."""
    max_tokens_param: str
    """Which field carried it ("max_completion_tokens" wins over "max_tokens" in chat)."""


def require_object(body: Any, raw_error: str | None) -> dict[str, Any]:
    if raw_error is not None:
        raise request_validation((0,), "json_invalid", f"JSON decode error: {raw_error}")
    if not isinstance(body, dict):
        raise request_validation((), "model_attributes_type", "Input should be a valid dictionary")
    return body


def check_model(body: dict[str, Any], served: str) -> str:
    """vLLM makes `model` optional (the served model is used); a wrong name is a 404."""
    model = body.get("model")
    if model is None:
        return served
    if not isinstance(model, str):
        raise request_validation(("model",), "string_type", "Input should be a valid string")
    if model != served:
        raise model_not_found(model)
    return model


def parse_generation_params(
    body: dict[str, Any], *, chat: bool, default_max_tokens: int | None
) -> GenerationParams:
    stream = _optional_bool(body, "stream") or False
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise request_validation(("stream_options",), "model_type", "Input should be an object")
    if options is not None and not stream:
        # vLLM's request validator, verbatim.
        raise SimHTTPError(400, "Stream options can only be defined when `stream=True`.")
    options = options or {}
    include_usage = bool(options.get("include_usage"))
    # vLLM sends per-chunk usage only when include_usage is on as well.
    continuous_usage = include_usage and bool(options.get("continuous_usage_stats"))

    param = "max_tokens"
    max_tokens = _optional_int(body, "max_tokens")
    if chat:
        completion_limit = _optional_int(body, "max_completion_tokens")
        if completion_limit is not None:
            max_tokens, param = completion_limit, "max_completion_tokens"
    if max_tokens is None:
        max_tokens = default_max_tokens
    if max_tokens is not None and max_tokens < 1:
        raise validation_error(
            f"{param} must be at least 1, got {max_tokens}.", parameter=param, value=max_tokens
        )
    return GenerationParams(
        stream=stream,
        include_usage=include_usage,
        continuous_usage=continuous_usage,
        stop=_stop_strings(body.get("stop")),
        max_tokens=max_tokens,
        max_tokens_param=param,
    )


def output_budget(prompt_tokens: int, params: GenerationParams, max_model_len: int) -> int:
    """Check the context window the way vLLM >= 0.18 does; return the output token budget.

    A request without max_tokens asks for 0 output tokens in the check and may then use all
    the room left (vLLM's default max_tokens is max_model_len - prompt)."""
    requested = params.max_tokens or 0
    if requested > max_model_len:
        raise max_tokens_over_window(params.max_tokens_param, requested, max_model_len)
    if prompt_tokens + requested > max_model_len:
        raise context_overflow(prompt_tokens, requested, max_model_len)
    return params.max_tokens if params.max_tokens is not None else max_model_len - prompt_tokens


def _stop_strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise request_validation(
        ("stop",), "string_type", "Input should be a string or list of strings"
    )


def _optional_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise request_validation((key,), "int_type", "Input should be a valid integer")
    return value


def _optional_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise request_validation((key,), "bool_type", "Input should be a valid boolean")
    return value
