"""What chat and completions share when answering: serialisation, faults, usage, spec errors."""

from __future__ import annotations

import json

from aiohttp import web

from autosred.sim.errors import SimHTTPError
from autosred.sim.replies import ReplySpec
from autosred.sim.state import SimState
from autosred.sim.streaming import Faults, sleep_watching


def dumps(value: object) -> str:
    """Compact JSON with raw UTF-8, as pydantic's model_dump_json (what vLLM uses) writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def faults_for(spec: ReplySpec, state: SimState) -> Faults:
    rate = spec.tokens_per_second
    return Faults(
        delay=spec.delay,
        tokens_per_second=state.config.tokens_per_second if rate is None else rate,
        drop_after=spec.drop_after,
        hang_after=spec.hang_after,
    )


async def raise_spec_error(request: web.Request, spec: ReplySpec) -> None:
    """Answer the spec's `error` (after its `delay`), before any byte of a response."""
    error = spec.error
    if error is None:
        return
    if spec.delay:
        await sleep_watching(request, spec.delay)
    raise SimHTTPError(error.status, error.message, type_=error.type, param=error.param)


def usage_for(spec: ReplySpec, prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """The usage object (vLLM's UsageInfo field order), with the spec's overrides applied."""
    if spec.usage is not None:
        if spec.usage.prompt_tokens is not None:
            prompt_tokens = spec.usage.prompt_tokens
        if spec.usage.completion_tokens is not None:
            completion_tokens = spec.usage.completion_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def running_usage(prompt_tokens: int, completion_tokens: int) -> str:
    """The `usage` member of a chunk under continuous_usage_stats."""
    return dumps(
        {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens": completion_tokens,
        }
    )
