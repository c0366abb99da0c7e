"""Anthropic Messages request -> vLLM Chat Completions request (pure, no I/O).

``to_chat_request`` validates the parsed JSON body (any malformed input raises
``AnthropicError`` with ``invalid_request_error``, nothing else), builds the upstream body from
known fields only, and ``serialise`` turns it into bytes. The body is built in a fixed key order
and never copies client dicts that carry per-request noise, so two requests that differ only in
Claude Code's billing header or in ``cache_control`` serialise to identical bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from autosred.proxy.anthropic.content import (
    fail,
    parse_messages,
    parse_system,
    require_str,
)
from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.anthropic.history import fold_inline_system, to_chat_messages
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.hosted.seal import ContentSealer
from autosred.proxy.hosted.tools import HostedKind, HostedTool
from autosred.proxy.modelview import ModelView
from autosred.proxy.upstream import encode_body

Effort = Literal["low", "medium", "high"]
# Anthropic has low/medium/high/max; reasoning_effort's common ground is low/medium/high.
_EFFORTS: dict[str, Effort] = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "high",
    "xhigh": "high",
}
STREAM_OPTIONS = {"include_usage": True}
"""The usage once, in the chunk after the last (``message_delta`` carries it). Not in every
chunk (``continuous_usage_stats``): that costs the model server 20-30% of its streaming
throughput (BENCHMARKS.md), and ``message_start`` goes out before the first chunk of a long
prefill anyway, so its prompt size is the relay's own (the /tokenize count when the request
was fitted to the context, else the estimate; docs/conformance.md, cases 16 and 24)."""


@dataclass(slots=True)
class ChatRequest:
    """The upstream request plus what the response side needs to know about it."""

    body: dict[str, Any]
    """The vLLM /v1/chat/completions JSON body, in a fixed key order."""
    client_model: str
    """The model name the client sent, echoed in every response."""
    stream: bool
    max_tokens: int | None
    """As requested by the client (``None`` for count_tokens bodies)."""
    single_tool_call: bool = False
    """``disable_parallel_tool_use``: only the first tool call becomes a tool_use block."""
    stop_sequences: tuple[str, ...] = ()
    hosted: tuple[HostedTool, ...] = ()
    """The hosted tools the daemon runs for this request (offered to the model as functions)."""
    _wire: bytes | None = field(default=None, repr=False, compare=False)

    def with_max_tokens(self, max_tokens: int) -> ChatRequest:
        """A copy whose upstream ``max_tokens`` is ``max_tokens`` (after clamping)."""
        body = dict(self.body)
        body["max_tokens"] = max_tokens
        return replace(self, body=body, _wire=None)


def serialise(request: ChatRequest) -> bytes:
    """Compact, deterministic UTF-8 JSON of the upstream body (cached on the request)."""
    if request._wire is None:
        request._wire = encode_body(request.body)
    return request._wire


# --------------------------------------------------------------------------------------------


def _number(body: dict[str, Any], key: str, *, low: float, high: float | None) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(key, "Input should be a valid number")
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise fail(key, f"Input should be {bound}")
    return value


def _integer(value: object, path: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, "Input should be a valid integer")
    if value < low:
        raise fail(path, f"Input should be greater than or equal to {low}")
    return value


@dataclass(frozen=True, slots=True)
class HostedSupport:
    """What this daemon can run of Anthropic's hosted tools, and the sealer of their results
    (which also opens them when the history comes back)."""

    kinds: frozenset[HostedKind]
    sealer: ContentSealer | None = None


_HOSTED_TYPES: dict[str, HostedKind] = {"web_search_": "web_search", "web_fetch_": "web_fetch"}


def _hosted_kind(kind: object) -> HostedKind | None:
    if isinstance(kind, str):
        for prefix, hosted in _HOSTED_TYPES.items():
            if kind.startswith(prefix):
                return hosted
    return None


def _domains(tool: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = tool.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise fail(f"{path}.{key}", "Input should be a valid list")
    return tuple(require_str(item, f"{path}.{key}.{i}") for i, item in enumerate(value))


def _hosted_tool(tool: dict[str, Any], kind: HostedKind, name: str, path: str) -> HostedTool:
    """A web_search_* / web_fetch_* tool definition, checked as Anthropic checks it."""
    max_uses = tool.get("max_uses")
    if max_uses is not None:
        max_uses = _integer(max_uses, f"{path}.max_uses", low=1)
    allowed = _domains(tool, "allowed_domains", path)
    blocked = _domains(tool, "blocked_domains", path)
    if allowed and blocked:
        raise fail(path, "allowed_domains and blocked_domains cannot be used together")
    country = None
    location = tool.get("user_location")
    if location is not None:
        if not isinstance(location, dict):
            raise fail(f"{path}.user_location", "Input should be a valid dictionary")
        value = location.get("country")
        if value is not None:
            country = require_str(value, f"{path}.user_location.country")
    max_content = tool.get("max_content_tokens")
    if max_content is not None:
        max_content = _integer(max_content, f"{path}.max_content_tokens", low=1)
    return HostedTool(
        kind=kind,
        name=name,
        max_uses=max_uses,
        allowed_domains=allowed,
        blocked_domains=blocked,
        country=country,
        max_content_tokens=max_content if kind == "web_fetch" else None,
    )


def _is_server_tool(tool: dict[str, Any]) -> bool:
    # Anthropic-hosted tools (web_search_20250305, bash_20250124, computer_…) have a versioned
    # type and no input_schema; only "custom" (or no type) is a client function tool.
    kind = tool.get("type")
    return kind is not None and kind != "custom"


def _tools(
    value: object, runnable: frozenset[HostedKind] = frozenset()
) -> tuple[list[dict[str, Any]], set[str], list[HostedTool]]:
    """OpenAI function tools, the names of server tools that were left out, and the hosted
    tools the daemon runs (of the ``runnable`` kinds; offered as functions in ``tools``)."""
    if value is None:
        return [], set(), []
    if not isinstance(value, list):
        raise fail("tools", "Input should be a valid list")
    tools: list[dict[str, Any]] = []
    dropped: set[str] = set()
    hosted: list[HostedTool] = []
    for i, tool in enumerate(value):
        path = f"tools.{i}"
        if not isinstance(tool, dict):
            raise fail(path, "Input should be a valid dictionary")
        name = require_str(tool.get("name"), f"{path}.name")
        if _is_server_tool(tool):
            kind = _hosted_kind(tool.get("type"))
            if kind is not None and kind in runnable and all(h.kind != kind for h in hosted):
                hosted.append(_hosted_tool(tool, kind, name, path))
                tools.append(hosted[-1].function())
            else:
                dropped.add(name)  # code_execution, bash, … (case 28), or not enabled
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise fail(f"{path}.input_schema", "Input should be a valid dictionary")
        if "type" not in schema:
            schema = {"type": "object", **schema}
        function: dict[str, Any] = {"name": name}
        description = tool.get("description")
        if description is not None:
            function["description"] = require_str(description, f"{path}.description")
        # input_schema goes through verbatim; cache_control, defer_loading, strict,
        # input_examples … are never merged into it (litellm#30557).
        function["parameters"] = schema
        tools.append({"type": "function", "function": function})
    return tools, dropped, hosted


def _tool_choice(
    value: object, tools: list[dict[str, Any]], dropped: set[str]
) -> tuple[str | dict[str, Any] | None, bool]:
    """(OpenAI tool_choice or None, parallel tool calls disabled)."""
    if value is None:
        return ("auto" if tools else None), False
    if not isinstance(value, dict):
        raise fail("tool_choice", "Input should be a valid dictionary")
    kind = value.get("type")
    single = value.get("disable_parallel_tool_use") is True
    if kind == "auto":
        choice: str | dict[str, Any] = "auto"
    elif kind == "any":
        choice = "required"
    elif kind == "none":
        choice = "none"
    elif kind == "tool":
        name = require_str(value.get("name"), "tool_choice.name")
        if name in dropped:
            raise AnthropicError.invalid_request(
                f"tool_choice: tool {name!r} is not supported by this backend"
            )
        if all(tool["function"]["name"] != name for tool in tools):
            raise fail("tool_choice.name", f"tool {name!r} is not in tools")
        choice = {"type": "function", "function": {"name": name}}
    else:
        raise fail("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    if not tools:
        return None, False  # OpenAI rejects tool_choice without tools
    return choice, single


def _effort(body: dict[str, Any]) -> Effort | None:
    config = body.get("output_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise fail("output_config", "Input should be a valid dictionary")
    effort = config.get("effort")
    if effort is None:
        return None
    if not isinstance(effort, str):
        raise fail("output_config.effort", "Input should be a valid string")
    return _EFFORTS.get(effort)


def _thinking(body: dict[str, Any]) -> tuple[str | None, int | None]:
    """(thinking type or None, budget_tokens or None); unknown types are ignored."""
    thinking = body.get("thinking")
    if thinking is None:
        return None, None
    if not isinstance(thinking, dict):
        raise fail("thinking", "Input should be a valid dictionary")
    kind = thinking.get("type")
    if not isinstance(kind, str):
        raise fail("thinking.type", "Field required")
    budget = thinking.get("budget_tokens")
    if kind == "enabled" and budget is not None:
        return kind, _integer(budget, "thinking.budget_tokens", low=1)
    return (kind if kind in ("enabled", "disabled", "adaptive") else None), None


def _stop(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail("stop_sequences", "Input should be a valid list")
    return [require_str(item, f"stop_sequences.{i}") for i, item in enumerate(value)]


def _body_dict(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise AnthropicError.invalid_request("The request body must be a JSON object")
    return body


def build_chat_body(
    body: dict[str, Any],
    *,
    recipe_view: ModelView,
    signer: ThinkingSigner,
    require_max_tokens: bool,
    hosted: HostedSupport | None = None,
) -> tuple[dict[str, Any], int | None, bool, tuple[str, ...], list[HostedTool]]:
    """The upstream body for a Messages or count_tokens body (shared so counts match), and
    the hosted tools the daemon runs for it."""
    model = body.get("model")
    if model is None:
        raise fail("model", "Field required")
    require_str(model, "model")
    max_tokens: int | None = None
    if require_max_tokens or body.get("max_tokens") is not None:
        raw_max = body.get("max_tokens")
        if raw_max is None:
            raise fail("max_tokens", "Field required")
        max_tokens = _integer(raw_max, "max_tokens", low=1)

    system = parse_system(body.get("system"))
    turns = parse_messages(body.get("messages"), recipe_view.media)
    leading, turns = fold_inline_system(turns)
    sealer = hosted.sealer if hosted is not None else None
    messages, prefill = to_chat_messages([*system, *leading], turns, signer, sealer=sealer)
    tools, dropped, hosted_tools = _tools(
        body.get("tools"), hosted.kinds if hosted is not None else frozenset()
    )
    choice, single = _tool_choice(body.get("tool_choice"), tools, dropped)
    temperature = _number(body, "temperature", low=0.0, high=None)
    top_p = _number(body, "top_p", low=0.0, high=1.0)
    top_k = body.get("top_k")
    if top_k is not None:
        top_k = _integer(top_k, "top_k", low=-1)
    stop = _stop(body.get("stop_sequences"))
    thinking, budget = _thinking(body)
    effort = _effort(body)

    out: dict[str, Any] = {"model": recipe_view.served_model_name, "messages": messages}
    if tools:
        out["tools"] = tools
        out["tool_choice"] = choice
        if single:
            out["parallel_tool_calls"] = False
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    if temperature is not None:
        out["temperature"] = temperature
    if top_p is not None:
        out["top_p"] = top_p
    if top_k is not None:
        out["top_k"] = top_k
    if stop:
        out["stop"] = stop
    if thinking != "disabled" and effort is not None and recipe_view.reasoning_effort:
        out["reasoning_effort"] = effort
    if thinking == "enabled" and budget is not None and recipe_view.thinking_token_budget:
        out["thinking_token_budget"] = budget
    kwargs: dict[str, Any] = {}
    if thinking is not None and recipe_view.reasoning_switch:
        kwargs[recipe_view.reasoning_switch] = thinking != "disabled"
    if kwargs:
        out["chat_template_kwargs"] = kwargs
    if prefill:
        # Anthropic prefill: the reply continues the last assistant turn.
        out["continue_final_message"] = True
        out["add_generation_prompt"] = False
    return out, max_tokens, single, tuple(stop), hosted_tools


def to_chat_request(
    body: object,
    *,
    recipe_view: ModelView,
    signer: ThinkingSigner,
    hosted: HostedSupport | None = None,
) -> ChatRequest:
    """Map a parsed ``/v1/messages`` body to the upstream chat request.

    Raises ``AnthropicError`` (400 ``invalid_request_error``) on malformed input, and never
    any other exception. Unknown top-level fields (context_management, metadata,
    output_config.format, service_tier, container, mcp_servers …) are accepted and dropped.
    """
    try:
        data = _body_dict(body)
        upstream, max_tokens, single, stop, hosted_tools = build_chat_body(
            data, recipe_view=recipe_view, signer=signer, require_max_tokens=True, hosted=hosted
        )
    except RecursionError:
        raise AnthropicError.invalid_request("The request body is nested too deeply") from None
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise fail("stream", "Input should be a valid boolean")
    if stream:
        upstream["stream"] = True
        upstream["stream_options"] = STREAM_OPTIONS
    request = ChatRequest(
        body=upstream,
        client_model=str(data["model"]),
        stream=bool(stream),
        max_tokens=max_tokens,
        single_tool_call=single,
        stop_sequences=stop,
        hosted=tuple(hosted_tools),
    )
    request._wire = checked_dumps(request.body)
    return request


def checked_dumps(body: dict[str, Any]) -> bytes:
    """``encode_body``, with values JSON cannot carry (NaN, Infinity, deep nesting) as a 400."""
    try:
        return encode_body(body)
    except RecursionError:
        raise AnthropicError.invalid_request("The request body is nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise AnthropicError.invalid_request(
            f"The request body contains a value that cannot be forwarded: {exc}"
        ) from None
