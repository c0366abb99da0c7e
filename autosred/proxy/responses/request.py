"""OpenAI Responses request -> vLLM Chat Completions request (pure, no I/O).

``to_chat_request`` validates the parsed body (malformed input raises ``ResponsesError`` 400
naming the field, nothing else), maps the known fields and ignores the rest (docs/conformance.md,
case 78: ``store``, ``include``, ``prompt_cache_key``, ``client_metadata``, ``text.verbosity``,
``service_tier``, ``truncation``, ``metadata``, ``user`` … never reach vLLM).

Tools (docs/conformance.md, case 73): ``function`` tools go up as chat tools; a ``custom``
(freeform) tool such as Codex's ``apply_patch`` goes up as a function with one required string
parameter ``input`` and its grammar in the description, and comes back as a ``custom_tool_call``;
the function tools nested in a ``namespace`` tool go up flattened as ``<namespace>__<name>`` and
come back as ``function_call`` items carrying ``namespace``; a ``tool_search`` tool the client
runs itself (``execution: "client"``: Codex defers its MCP tools behind it) goes up as the
function ``tool_search`` and comes back as a ``tool_search_call``, and the tools a
``tool_search_output`` in the input loaded go up beside the request's own; ``web_search``
(and ``web_search_preview``), when the daemon runs hosted searches, goes up as the function
``web_search {query}`` that the daemon executes (proxy/responses/hosted.py, case 92); every
other type (a hosted ``tool_search``, ``image_generation``, ``file_search``, ``mcp``,
``local_shell`` …, and ``web_search`` when hosted searches are off) is hosted by OpenAI, so it
is skipped (and logged) rather than rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from autosred.proxy.hosted.memory import SearchMemory
from autosred.proxy.hosted.tools import HostedKind, HostedTool
from autosred.proxy.modelview import ModelView
from autosred.proxy.responses.errors import ResponsesError, invalid
from autosred.proxy.responses.history import (
    TOOL_SEARCH,
    to_chat_messages,
    upstream_name,
)
from autosred.proxy.responses.reasoning import ReasoningSealer
from autosred.proxy.upstream import encode_body

STREAM_OPTIONS = {"include_usage": True}
"""Upstream always streams; the usage chunk at the end gives the response's ``usage``."""
CUSTOM_PARAMETER = "input"
"""The one string parameter a custom (freeform) tool takes upstream."""
ENCRYPTED_REASONING = "reasoning.encrypted_content"
SEARCH_SOURCES = "web_search_call.action.sources"
WEB_SEARCH = "web_search"
"""The upstream function name of the hosted web search (and the kind of its target)."""
WEB_SEARCH_TYPES = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)

Effort = Literal["low", "medium", "high"]
# Responses efforts are none/minimal/low/medium/high/xhigh; vLLM's reasoning_effort takes
# low/medium/high. "none" turns thinking off where the recipe names a template switch.
_EFFORTS: dict[str, Effort | None] = {
    "none": None,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}


@dataclass(frozen=True, slots=True)
class ToolTarget:
    """The client's tool behind an upstream function name."""

    kind: Literal["function", "custom", "tool_search", "web_search"]
    name: str
    namespace: str | None = None


@dataclass(slots=True)
class ResponsesRequest:
    """The upstream request plus what the response side needs to know about it."""

    body: dict[str, Any]
    """The vLLM /v1/chat/completions body, in a fixed key order, always streaming."""
    client_model: str
    stream: bool
    max_output_tokens: int | None
    store: bool
    include_encrypted: bool
    """``include`` names ``reasoning.encrypted_content``."""
    include_sources: bool
    """``include`` names ``web_search_call.action.sources``."""
    tools: dict[str, ToolTarget]
    """Upstream function name -> the client's tool."""
    single_tool_call: bool
    """``parallel_tool_calls: false``: only the first call becomes an output item."""
    skipped_tools: tuple[str, ...]
    """Types of the tools left out (hosted by OpenAI)."""
    conversation: list[Any]
    """The items a follow-up's ``previous_response_id`` continues from (history + input)."""
    echo: dict[str, Any]
    """Request fields the response object repeats (instructions, tools, reasoning …)."""
    probe: bool
    """No conversation at all (Codex's empty-input probe): answered without the model."""
    hosted: tuple[HostedTool, ...] = ()
    """The hosted tools the daemon runs for this request (``web_search``)."""
    _wire: bytes | None = field(default=None, repr=False, compare=False)


def serialise(request: ResponsesRequest) -> bytes:
    """Compact, deterministic UTF-8 JSON of the upstream body (cached on the request)."""
    if request._wire is None:
        request._wire = dumps(request.body)
    return request._wire


def dumps(body: dict[str, Any]) -> bytes:
    """``encode_body``, with values JSON cannot carry as a 400."""
    try:
        return encode_body(body)
    except RecursionError:
        raise ResponsesError.invalid("the request body is nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise ResponsesError.invalid(
            f"the request body contains a value that cannot be forwarded: {exc}"
        ) from None


# --------------------------------------------------------------------------------------------


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(key, "Input should be a valid string")
    return value


def _optional_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(key, "Input should be a valid boolean")
    return value


def _number(body: dict[str, Any], key: str, *, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(key, "Input should be a valid number")
    if not math.isfinite(value) or not 0 <= value <= high:
        raise invalid(key, f"Input should be between 0 and {high}")
    return value


def _dict(value: object, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(path, "Input should be a valid dictionary")
    return value


def _input_items(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise invalid("input", "Input should be a valid string or list")
    return value


# ------------------------------------------------------------------------------ tools


def _function(
    tool: dict[str, Any], path: str, *, namespace: str | None = None
) -> tuple[str, dict[str, Any]]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{path}.name", "Input should be a non-empty string")
    function: dict[str, Any] = {"name": upstream_name(name, namespace)}
    description = tool.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise invalid(f"{path}.description", "Input should be a valid string")
        function["description"] = description
    parameters = _dict(tool.get("parameters"), f"{path}.parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    elif "type" not in parameters:
        parameters = {"type": "object", **parameters}
    function["parameters"] = parameters
    return name, {"type": "function", "function": function}


def _custom(tool: dict[str, Any], path: str) -> tuple[str, dict[str, Any]]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{path}.name", "Input should be a non-empty string")
    description = tool.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid(f"{path}.description", "Input should be a valid string")
    lines = [description or f"The {name} tool."]
    lines.append(
        f"Call it with one argument, `{CUSTOM_PARAMETER}`: a string holding the tool's raw "
        "input (for example a whole patch), exactly as the tool expects it."
    )
    fmt = _dict(tool.get("format"), f"{path}.format")
    if fmt is not None and fmt.get("type") == "grammar":
        definition = fmt.get("definition")
        if not isinstance(definition, str):
            raise invalid(f"{path}.format.definition", "Input should be a valid string")
        syntax = fmt.get("syntax")
        syntax = syntax if isinstance(syntax, str) else "lark"
        lines.append(f"The input must match this {syntax} grammar:\n{definition}")
    function = {
        "name": name,
        "description": "\n\n".join(lines),
        "parameters": {
            "type": "object",
            "properties": {
                CUSTOM_PARAMETER: {"type": "string", "description": f"The raw input of {name}."}
            },
            "required": [CUSTOM_PARAMETER],
            "additionalProperties": False,
        },
    }
    return name, {"type": "function", "function": function}


def _string_list(value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid(path, "Input should be a valid list of strings")
    return tuple(value)


def _web_search(tool: dict[str, Any], path: str) -> HostedTool:
    """A ``web_search`` tool definition, checked as OpenAI checks it. ``search_context_size``
    is accepted and ignored: the daemon's backend returns one size of results."""
    filters = _dict(tool.get("filters"), f"{path}.filters")
    allowed = _string_list(
        filters.get("allowed_domains") if filters else None, f"{path}.filters.allowed_domains"
    )
    location = _dict(tool.get("user_location"), f"{path}.user_location")
    country = location.get("country") if location else None
    if country is not None and not isinstance(country, str):
        raise invalid(f"{path}.user_location.country", "Input should be a valid string")
    size = tool.get("search_context_size")
    if size is not None and size not in ("low", "medium", "high"):
        raise invalid(f"{path}.search_context_size", "Input should be 'low', 'medium' or 'high'")
    live = tool.get("external_web_access")
    if live is not None and not isinstance(live, bool):
        raise invalid(f"{path}.external_web_access", "Input should be a valid boolean")
    return HostedTool(
        kind="web_search",
        name=WEB_SEARCH,
        allowed_domains=allowed,
        country=country or None,
        live=live is not False,
    )


def _tools(
    value: object, conversation: list[Any], runnable: frozenset[HostedKind] = frozenset()
) -> tuple[list[dict[str, Any]], dict[str, ToolTarget], list[str], list[HostedTool]]:
    """(chat tools, upstream name -> client tool, skipped tool types, hosted tools): the
    request's tools, then those the conversation's ``tool_search_output`` items loaded; a
    ``web_search`` tool is hosted when ``runnable`` has it."""
    if value is None:
        value = []
    if not isinstance(value, list):
        raise invalid("tools", "Input should be a valid list")
    entries = [(f"tools.{i}", tool) for i, tool in enumerate(value)]
    for i, item in enumerate(conversation):
        if isinstance(item, dict) and item.get("type") == "tool_search_output":
            loaded = item.get("tools")
            if loaded is not None and not isinstance(loaded, list):
                raise invalid(f"input.{i}.tools", "Input should be a valid list")
            entries += [(f"input.{i}.tools.{j}", tool) for j, tool in enumerate(loaded or [])]
    chat: list[dict[str, Any]] = []
    targets: dict[str, ToolTarget] = {}
    skipped: list[str] = []
    hosted: list[HostedTool] = []

    def add(name: str, tool: dict[str, Any], target: ToolTarget) -> bool:
        key = tool["function"]["name"]
        if key in targets:  # a repeated name: the first definition wins
            return False
        targets[key] = target
        chat.append(tool)
        return True

    for path, tool in entries:
        if not isinstance(tool, dict):
            raise invalid(path, "Input should be a valid dictionary")
        kind = tool.get("type")
        if kind is None:
            raise invalid(f"{path}.type", "Field required")
        if not isinstance(kind, str):  # a list or an object cannot be looked up in a set
            raise invalid(f"{path}.type", "Input should be a valid string")
        if kind == "function":
            name, spec = _function(tool, path)
            add(name, spec, ToolTarget("function", name))
        elif kind == "custom":
            name, spec = _custom(tool, path)
            add(name, spec, ToolTarget("custom", name))
        elif kind == "tool_search" and tool.get("execution") == "client":
            search = {**tool, "name": TOOL_SEARCH}
            name, spec = _function(search, path)
            add(name, spec, ToolTarget("tool_search", name))
        elif kind in WEB_SEARCH_TYPES and "web_search" in runnable and path.startswith("tools"):
            web_tool = _web_search(tool, path)
            if not hosted and add(
                WEB_SEARCH, web_tool.function(), ToolTarget("web_search", WEB_SEARCH)
            ):
                hosted.append(web_tool)
        elif kind == "namespace":
            namespace = tool.get("name")
            if not isinstance(namespace, str) or not namespace:
                raise invalid(f"{path}.name", "Input should be a non-empty string")
            nested = tool.get("tools")
            if not isinstance(nested, list):
                raise invalid(f"{path}.tools", "Input should be a valid list")
            for j, inner in enumerate(nested):
                where = f"{path}.tools.{j}"
                if not isinstance(inner, dict):
                    raise invalid(where, "Input should be a valid dictionary")
                if inner.get("type", "function") != "function":
                    skipped.append(f"{namespace}.{inner.get('type')}")
                    continue
                name, spec = _function(inner, where, namespace=namespace)
                add(name, spec, ToolTarget("function", name, namespace))
        else:
            skipped.append(kind)
    return chat, targets, skipped, hosted


def _tool_choice(value: object, targets: dict[str, ToolTarget]) -> str | dict[str, Any] | None:
    if value is None:
        return "auto" if targets else None
    if value in ("auto", "none", "required"):
        choice: str | dict[str, Any] = str(value)
    elif isinstance(value, dict):
        kind = value.get("type")
        if kind in ("function", "custom"):
            name = value.get("name")
            if not isinstance(name, str):
                raise invalid("tool_choice.name", "Field required")
            wanted = upstream_name(name, value.get("namespace") or None)
            if wanted not in targets:
                raise invalid("tool_choice.name", f"tool {name!r} is not in tools")
            choice = {"type": "function", "function": {"name": wanted}}
        elif kind == "allowed_tools":
            choice = "required" if value.get("mode") == "required" else "auto"
        elif isinstance(kind, str) and kind in WEB_SEARCH_TYPES:
            target = targets.get(WEB_SEARCH)
            hosted = target is not None and target.kind == "web_search"
            choice = {"type": "function", "function": {"name": WEB_SEARCH}} if hosted else "auto"
        else:
            choice = "auto"  # a hosted tool (web_search …) that is not offered upstream
    else:
        raise invalid("tool_choice", "Input should be 'auto', 'none', 'required' or an object")
    return choice if targets else None  # vLLM rejects tool_choice without tools


# ------------------------------------------------------------------------------ options


def _reasoning(body: dict[str, Any], view: ModelView) -> tuple[dict[str, Any], dict[str, Any]]:
    """(upstream fields, echoed ``reasoning``)."""
    reasoning = _dict(body.get("reasoning"), "reasoning")
    if reasoning is None:
        return {}, {"effort": None, "summary": None}
    effort = reasoning.get("effort")
    if effort is not None and not isinstance(effort, str):
        raise invalid("reasoning.effort", "Input should be a valid string")
    summary = reasoning.get("summary")
    echo = {"effort": effort, "summary": summary if isinstance(summary, str) else None}
    out: dict[str, Any] = {}
    if effort is None or effort not in _EFFORTS:
        return out, echo
    mapped = _EFFORTS[effort]
    if mapped is not None and view.reasoning_effort:
        out["reasoning_effort"] = mapped
    if view.reasoning_switch:
        out["chat_template_kwargs"] = {view.reasoning_switch: mapped is not None}
    return out, echo


def _text_format(body: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(upstream ``response_format`` or None, echoed ``text``)."""
    text = _dict(body.get("text"), "text")
    verbosity = text.get("verbosity") if text is not None else None
    echo: dict[str, Any] = {
        "format": {"type": "text"},
        "verbosity": verbosity if isinstance(verbosity, str) else "medium",
    }
    fmt = _dict(text.get("format"), "text.format") if text is not None else None
    if fmt is None:
        return None, echo
    echo["format"] = fmt
    kind = fmt.get("type")
    if kind == "json_schema":
        schema = _dict(fmt.get("schema"), "text.format.schema")
        if schema is None:
            raise invalid("text.format.schema", "Field required")
        name = fmt.get("name")
        spec: dict[str, Any] = {
            "name": name if isinstance(name, str) and name else "response",
            "schema": schema,
        }
        description = fmt.get("description")
        if isinstance(description, str):
            spec["description"] = description
        strict = fmt.get("strict")
        if isinstance(strict, bool):
            spec["strict"] = strict
        return {"type": "json_schema", "json_schema": spec}, echo
    if kind == "json_object":
        return {"type": "json_object"}, echo
    if kind in (None, "text"):
        return None, echo
    raise invalid("text.format.type", "Input should be 'text', 'json_schema' or 'json_object'")


def _max_output_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_output_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("max_output_tokens", "Input should be a valid integer")
    if value < 1:
        raise invalid("max_output_tokens", "Input should be greater than or equal to 1")
    return value


def _include(body: dict[str, Any]) -> tuple[str, ...]:
    return _string_list(body.get("include"), "include")


def to_chat_request(
    body: object,
    *,
    view: ModelView,
    sealer: ReasoningSealer,
    history: list[Any] | None = None,
    hosted: frozenset[HostedKind] = frozenset(),
    memory: SearchMemory | None = None,
) -> ResponsesRequest:
    """Map a parsed ``/v1/responses`` body to the upstream chat request.

    ``history``: the stored items ``previous_response_id`` named (its input and output), put
    before this request's input. ``hosted``: the hosted tools the daemon runs (a ``web_search``
    tool is offered to the model then, else skipped); ``memory``: where the text of the
    daemon's earlier searches is found when their ``web_search_call`` items come back. Raises
    ``ResponsesError`` (400) on malformed input and never any other exception.
    """
    if not isinstance(body, dict):
        raise ResponsesError.invalid("the request body must be a JSON object")
    try:
        return _build(
            body,
            view=view,
            sealer=sealer,
            history=history or [],
            runnable=hosted,
            memory=memory,
        )
    except RecursionError:
        raise ResponsesError.invalid("the request body is nested too deeply") from None


def _build(
    body: dict[str, Any],
    *,
    view: ModelView,
    sealer: ReasoningSealer,
    history: list[Any],
    runnable: frozenset[HostedKind],
    memory: SearchMemory | None,
) -> ResponsesRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "Input should be a non-empty string")
    stream = _optional_bool(body, "stream") or False
    store = _optional_bool(body, "store")
    parallel = _optional_bool(body, "parallel_tool_calls")
    instructions = _optional_str(body, "instructions")
    previous = _optional_str(body, "previous_response_id")
    include = _include(body)
    items = _input_items(body.get("input"))
    conversation = [*history, *items]
    messages = to_chat_messages(
        instructions,
        conversation,
        sealer=sealer,
        policy=view.media,
        memory=memory,
    )
    tools, targets, skipped, hosted = _tools(body.get("tools"), conversation, runnable)
    choice = _tool_choice(body.get("tool_choice"), targets)
    max_output_tokens = _max_output_tokens(body)
    temperature = _number(body, "temperature", high=2.0)
    top_p = _number(body, "top_p", high=1.0)
    reasoning_fields, reasoning_echo = _reasoning(body, view)
    response_format, text_echo = _text_format(body)
    metadata = body.get("metadata")

    out: dict[str, Any] = {"model": view.served_model_name, "messages": messages}
    if tools:
        out["tools"] = tools
        out["tool_choice"] = choice
        if parallel is False:
            out["parallel_tool_calls"] = False
    if max_output_tokens is not None:
        out["max_tokens"] = max_output_tokens
    if temperature is not None:
        out["temperature"] = temperature
    if top_p is not None:
        out["top_p"] = top_p
    out.update(reasoning_fields)
    if response_format is not None:
        out["response_format"] = response_format
    out["stream"] = True
    out["stream_options"] = STREAM_OPTIONS

    echo: dict[str, Any] = {
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "parallel_tool_calls": parallel is not False,
        "previous_response_id": previous,
        "reasoning": reasoning_echo,
        "store": store is not False,
        "temperature": temperature if temperature is not None else 1.0,
        "text": text_echo,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": top_p if top_p is not None else 1.0,
        "truncation": "disabled",
        "user": body.get("user") if isinstance(body.get("user"), str) else None,
        "metadata": metadata if isinstance(metadata, dict) else {},
    }
    request = ResponsesRequest(
        body=out,
        client_model=model,
        stream=stream,
        max_output_tokens=max_output_tokens,
        store=store is not False,
        include_encrypted=ENCRYPTED_REASONING in include,
        include_sources=SEARCH_SOURCES in include,
        tools=targets,
        single_tool_call=parallel is False and bool(tools),
        skipped_tools=tuple(skipped),
        conversation=conversation,
        echo=echo,
        probe=all(message["role"] == "system" for message in messages),
        hosted=tuple(hosted),
    )
    request._wire = dumps(out)
    return request
