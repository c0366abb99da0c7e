"""Parse and validate Anthropic message content into a small typed form.

Everything the request mapper needs from a message is pulled out here, once, with a clear
``invalid_request_error`` naming the field on malformed input. Only known keys are read, so
``cache_control``, ``citations`` and whatever Claude Code adds next are never forwarded.
Unknown block types are dropped (new Anthropic block kinds must not break old daemons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.modelview import MediaPolicy

BILLING_HEADER = "x-anthropic-billing-header"

IMAGE_PLACEHOLDER = "[image omitted: this model does not accept images]"
DOCUMENT_PLACEHOLDER = "[document omitted: this model cannot read {kind} documents]"


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Image:
    url: str


@dataclass(slots=True)
class ToolUse:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(slots=True)
class ToolResult:
    tool_use_id: str
    text: str
    images: list[str] = field(default_factory=list)
    is_error: bool = False


@dataclass(slots=True)
class Thinking:
    text: str
    signature: object


@dataclass(slots=True)
class ServerToolUse:
    """A hosted tool call the daemon ran (``server_tool_use``)."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass(slots=True)
class SearchHitRef:
    title: str
    url: str
    page_age: str | None
    encrypted_content: object


@dataclass(slots=True)
class ServerToolResult:
    """A ``web_search_tool_result`` / ``web_fetch_tool_result``: what the model read."""

    tool_use_id: str
    kind: Literal["web_search", "web_fetch"]
    error_code: str | None = None
    hits: list[SearchHitRef] = field(default_factory=list)
    url: str = ""
    title: str | None = None
    text: str = ""


Block = Text | Image | ToolUse | ToolResult | Thinking | ServerToolUse | ServerToolResult
Role = Literal["user", "assistant", "system"]


@dataclass(slots=True)
class Turn:
    role: Role
    blocks: list[Block]


# Roles seen in the wild besides user/assistant/system: Claude Code >= 2.1.154 may send
# "ctx"/"msg" turns (vllm#44000); they carry user-side context.
_ROLE_ALIASES: dict[str, Role] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
    "ctx": "user",
    "msg": "user",
}


def fail(path: str, message: str) -> AnthropicError:
    return AnthropicError.invalid_request(f"{path}: {message}")


def require_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, "Input should be a valid string")
    return value


def is_billing_header(text: str) -> bool:
    return text.startswith(BILLING_HEADER)


def strip_billing_line(text: str) -> str:
    """A system string whose first line is the billing header loses that line."""
    if not is_billing_header(text):
        return text
    _, _, rest = text.partition("\n")
    return rest


def parse_system(value: object, path: str = "system") -> list[str]:
    """Texts of the top-level ``system`` (string or text blocks), billing header removed."""
    if value is None:
        return []
    if isinstance(value, str):
        text = strip_billing_line(value)
        return [text] if text else []
    if not isinstance(value, list):
        raise fail(path, "Input should be a valid string or a list of text blocks")
    texts: list[str] = []
    for i, block in enumerate(value):
        if not isinstance(block, dict):
            raise fail(f"{path}.{i}", "Input should be a valid dictionary")
        kind = block.get("type")
        if kind != "text":
            if not isinstance(kind, str):
                raise fail(f"{path}.{i}.type", "Field required")
            continue  # only text is meaningful in a system prompt
        text = require_str(block.get("text"), f"{path}.{i}.text")
        if text and not is_billing_header(text):
            texts.append(text)
    return texts


def parse_messages(value: object, policy: MediaPolicy) -> list[Turn]:
    if value is None:
        raise fail("messages", "Field required")
    if not isinstance(value, list):
        raise fail("messages", "Input should be a valid list")
    if not value:
        raise fail("messages", "at least one message is required")
    return [_parse_turn(raw, f"messages.{i}", policy) for i, raw in enumerate(value)]


def _parse_turn(raw: object, path: str, policy: MediaPolicy) -> Turn:
    if not isinstance(raw, dict):
        raise fail(path, "Input should be a valid dictionary")
    role_name = raw.get("role")
    if role_name is None:
        raise fail(f"{path}.role", "Field required")
    role = _ROLE_ALIASES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        raise fail(f"{path}.role", "Input should be 'user', 'assistant' or 'system'")
    content = raw.get("content")
    if "content" not in raw:
        raise fail(f"{path}.content", "Field required")
    if isinstance(content, str):
        if role == "system":
            content = strip_billing_line(content)
        return Turn(role, [Text(content)] if content else [])
    if not isinstance(content, list):
        raise fail(f"{path}.content", "Input should be a valid string or a list of blocks")
    blocks: list[Block] = []
    for i, item in enumerate(content):
        block = _parse_block(item, f"{path}.content.{i}", role, policy)
        if block is not None:
            blocks.append(block)
    return Turn(role, blocks)


def _parse_block(item: object, path: str, role: Role, policy: MediaPolicy) -> Block | None:
    if not isinstance(item, dict):
        raise fail(path, "Input should be a valid dictionary")
    kind = item.get("type")
    if not isinstance(kind, str):
        raise fail(f"{path}.type", "Field required")
    if kind == "text":
        text = require_str(item.get("text"), f"{path}.text")
        if role == "system" and is_billing_header(text):
            return None
        return Text(text) if text else None
    if kind == "image":
        if role == "assistant":
            return None  # Anthropic has no assistant images; nothing to forward
        return _image(item, path, policy)
    if kind == "document":
        return Text(_document_text(item, path, policy))
    if kind == "tool_use":
        if role != "assistant":
            raise fail(path, "tool_use blocks are only allowed in assistant messages")
        tool_id = require_str(item.get("id"), f"{path}.id")
        name = require_str(item.get("name"), f"{path}.name")
        tool_input = item.get("input", {})
        if tool_input is None:
            tool_input = {}
        if not isinstance(tool_input, dict):
            raise fail(f"{path}.input", "Input should be a valid dictionary")
        return ToolUse(tool_id, name, tool_input)
    if kind == "tool_result":
        if role == "assistant":
            raise fail(path, "tool_result blocks are only allowed in user messages")
        return _tool_result(item, path, policy)
    if kind == "thinking":
        if role != "assistant":
            return None
        text = item.get("thinking", "")
        if text is None:
            text = ""
        return Thinking(require_str(text, f"{path}.thinking"), item.get("signature"))
    if role == "assistant" and kind == "server_tool_use":
        tool_id = require_str(item.get("id"), f"{path}.id")
        name = require_str(item.get("name"), f"{path}.name")
        tool_input = item.get("input")
        return ServerToolUse(tool_id, name, tool_input if isinstance(tool_input, dict) else {})
    if role == "assistant" and kind in ("web_search_tool_result", "web_fetch_tool_result"):
        return _server_tool_result(item, path, kind)
    # redacted_thinking (opaque), other server tools' results, tool_reference at top level,
    # container_upload … carry nothing a chat template can use.
    return None


def _server_tool_result(item: dict[str, Any], path: str, kind: str) -> ServerToolResult:
    tool_use_id = require_str(item.get("tool_use_id"), f"{path}.tool_use_id")
    content = item.get("content")
    if kind == "web_search_tool_result":
        result = ServerToolResult(tool_use_id, "web_search")
        if isinstance(content, dict):  # the error form
            result.error_code = str(content.get("error_code") or "unavailable")
        elif isinstance(content, list):
            for i, hit in enumerate(content):
                where = f"{path}.content.{i}"
                if not isinstance(hit, dict):
                    raise fail(where, "Input should be a valid dictionary")
                age = hit.get("page_age")
                result.hits.append(
                    SearchHitRef(
                        title=require_str(hit.get("title", ""), f"{where}.title"),
                        url=require_str(hit.get("url"), f"{where}.url"),
                        page_age=age if isinstance(age, str) else None,
                        encrypted_content=hit.get("encrypted_content"),
                    )
                )
        return result
    result = ServerToolResult(tool_use_id, "web_fetch")
    if not isinstance(content, dict) or content.get("type") != "web_fetch_result":
        code = content.get("error_code") if isinstance(content, dict) else None
        result.error_code = str(code or "unavailable")
        return result
    result.url = require_str(content.get("url", ""), f"{path}.content.url")
    document = content.get("content")
    if isinstance(document, dict):
        title = document.get("title")
        result.title = title if isinstance(title, str) else None
        source = document.get("source")
        if isinstance(source, dict) and source.get("type") == "text":
            result.text = require_str(source.get("data", ""), f"{path}.content.content.source.data")
    return result


def _image_url(item: dict[str, Any], path: str) -> str:
    source = item.get("source")
    if not isinstance(source, dict):
        raise fail(f"{path}.source", "Field required")
    kind = source.get("type")
    if kind == "base64":
        media_type = require_str(source.get("media_type"), f"{path}.source.media_type")
        data = require_str(source.get("data"), f"{path}.source.data")
        return f"data:{media_type};base64,{data}"
    if kind == "url":
        return require_str(source.get("url"), f"{path}.source.url")
    raise fail(f"{path}.source.type", f"image source type {kind!r} is not supported")


def _image(item: dict[str, Any], path: str, policy: MediaPolicy) -> Block:
    url = _image_url(item, path)
    if policy.images == "forward":
        return Image(url)
    if policy.images == "placeholder":
        return Text(IMAGE_PLACEHOLDER)
    raise fail(path, "this model does not accept image input")


def _document_text(item: dict[str, Any], path: str, policy: MediaPolicy) -> str:
    source = item.get("source")
    if not isinstance(source, dict):
        raise fail(f"{path}.source", "Field required")
    kind = source.get("type")
    if not isinstance(kind, str):
        raise fail(f"{path}.source.type", "Field required")
    title = item.get("title")
    head = f"{title}\n" if isinstance(title, str) and title else ""
    if kind == "text":
        return head + require_str(source.get("data"), f"{path}.source.data")
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return head + inner
        if not isinstance(inner, list):
            raise fail(f"{path}.source.content", "Input should be a valid string or list")
        texts = []
        for i, block in enumerate(inner):
            if isinstance(block, dict) and block.get("type") == "text":
                texts.append(require_str(block.get("text"), f"{path}.source.content.{i}.text"))
        return head + "\n".join(texts)
    described = source.get("media_type") if kind == "base64" else kind
    label = "PDF" if described == "application/pdf" else str(described or "binary")
    if policy.documents == "reject":
        raise fail(path, f"{label} documents are not supported by this backend")
    return DOCUMENT_PLACEHOLDER.format(kind=label)


def _tool_result(item: dict[str, Any], path: str, policy: MediaPolicy) -> ToolResult:
    tool_use_id = require_str(item.get("tool_use_id"), f"{path}.tool_use_id")
    is_error = item.get("is_error") is True
    content = item.get("content")
    texts: list[str] = []
    images: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for i, part in enumerate(content):
            where = f"{path}.content.{i}"
            if not isinstance(part, dict):
                raise fail(where, "Input should be a valid dictionary")
            kind = part.get("type")
            if kind == "text":
                texts.append(require_str(part.get("text"), f"{where}.text"))
            elif kind == "image":
                block = _image(part, where, policy)
                if isinstance(block, Image):
                    images.append(block.url)
                elif isinstance(block, Text):
                    texts.append(block.text)
            elif kind == "document":
                texts.append(_document_text(part, where, policy))
            elif kind == "search_result":
                texts.append(_search_result_text(part))
            elif kind == "tool_reference":
                name = part.get("tool_name", part.get("name"))
                if isinstance(name, str):
                    texts.append(f"Tool loaded: {name}")
            elif not isinstance(kind, str):
                raise fail(f"{where}.type", "Field required")
    elif content is not None:
        raise fail(f"{path}.content", "Input should be a valid string or a list of blocks")
    # Text parts are joined with a newline, never str(list) or JSON of the blocks
    # (docs/conformance.md, case 33).
    return ToolResult(tool_use_id, "\n".join(texts), images, is_error)


def _search_result_text(part: dict[str, Any]) -> str:
    lines = []
    for key in ("title", "source"):
        value = part.get(key)
        if isinstance(value, str) and value:
            lines.append(value)
    inner = part.get("content")
    if isinstance(inner, list):
        for block in inner:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                lines.append(block["text"])
    return "\n".join(lines)
