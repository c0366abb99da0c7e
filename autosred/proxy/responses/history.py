"""Responses ``input`` items -> Chat Completions ``messages`` (pure).

The rules (docs/conformance.md, cases 69-72, 74, 77, and the mirror image of its §7.2 in §7.3):

* ``instructions`` and every ``system``/``developer`` message become ONE leading system
  message, in order (many chat templates accept a single leading system message only); a
  developer message in the middle of the conversation is folded there too, never a second
  system turn.
* Assistant-side items of one model turn (``reasoning``, assistant ``message``,
  ``function_call``, ``custom_tool_call``) become one assistant message: ``reasoning`` (from
  ``encrypted_content`` this daemon sealed), ``content``, ``tool_calls``. A reasoning item, or
  output after tool calls, starts the next assistant message.
* The outputs of an assistant message's tool calls follow it directly, one ``tool`` message
  per call in call order (codex#7051); a call without output gets a placeholder, images
  returned by tools and outputs no call asked for follow as one user message.
* A ``web_search_call`` (a search the daemon ran, proxy/responses/hosted.py) becomes what the
  model saw: a call of the function ``web_search`` in the assistant message and its results as
  the tool message. The text comes from the daemon's search memory by the item's id (Codex
  sends back only the id, status and action); when it is gone (a restart, evicted, a search
  OpenAI ran) the tool message says so and keeps the query; an item with neither is skipped
  (case 93).
* Items of other types (local_shell_call, compaction, item_reference …) are skipped: new
  Codex item kinds must not break old daemons.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from autosred.proxy.hosted.memory import SearchMemory
from autosred.proxy.modelview import MediaPolicy
from autosred.proxy.responses.errors import invalid
from autosred.proxy.responses.reasoning import ReasoningSealer

PART_JOIN = "\n"
"""Between text parts of one message (vLLM joins parts with "\\n" for string templates)."""
SECTION_JOIN = "\n\n"
"""Between the sections (instructions, developer messages) of the system message."""
MISSING_OUTPUT = "Tool call interrupted: no result was recorded."
IMAGE_PLACEHOLDER = "[image omitted: this model does not accept images]"
FILE_PLACEHOLDER = "[file omitted: this model cannot read attached files]"
NAMESPACE_JOIN = "__"
"""Upstream function name of a namespaced tool: ``<namespace>__<name>``."""
TOOL_SEARCH = "tool_search"
"""Upstream function name of a client-executed ``tool_search`` tool (it has no name)."""
WEB_SEARCH = "web_search"
"""Upstream function name of the hosted web search the daemon runs."""


def search_gone_text(query: str | None) -> str:
    """The tool message of a replayed search whose results the daemon no longer has."""
    head = f"Web search results for: {query}\n\n" if query else ""
    return head + "(The results of this search are no longer available.)"


def upstream_name(name: str, namespace: str | None) -> str:
    return f"{namespace}{NAMESPACE_JOIN}{name}" if namespace else name


@dataclass(slots=True)
class _Assistant:
    texts: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.texts or self.reasoning or self.calls)


@dataclass(slots=True)
class _Outputs:
    """The tool messages answering one assistant message's calls, being collected."""

    call_ids: list[str]
    texts: dict[str, str] = field(default_factory=dict)
    rest: list[dict[str, Any]] = field(default_factory=list)  # user parts (images, orphans)


def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise invalid(path, "Input should be a valid string")
    return value


def _image_part(part: dict[str, Any], path: str, policy: MediaPolicy) -> dict[str, Any]:
    url = part.get("image_url")
    if isinstance(url, dict):  # chat-style {"url": …} is tolerated
        url = url.get("url")
    if url is None:
        if part.get("file_id") is not None:
            raise invalid(f"{path}.file_id", "file ids are not supported; send image_url")
        raise invalid(f"{path}.image_url", "Field required")
    url = _str(url, f"{path}.image_url")
    if policy.images == "forward":
        out: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
        detail = part.get("detail")
        if detail in ("low", "high", "auto"):
            out["image_url"]["detail"] = detail
        return out
    if policy.images == "placeholder":
        return {"type": "text", "text": IMAGE_PLACEHOLDER}
    raise invalid(path, "this model does not accept image input")


def _file_part(path: str, policy: MediaPolicy) -> dict[str, Any]:
    if policy.documents == "placeholder":
        return {"type": "text", "text": FILE_PLACEHOLDER}
    raise invalid(path, "this model cannot read attached files")


def _parts(content: object, path: str, policy: MediaPolicy) -> list[dict[str, Any]]:
    """Chat content parts (text and image_url) of a message's or tool output's content."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if content is None:
        return []
    if not isinstance(content, list):
        raise invalid(path, "Input should be a valid string or list")
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        where = f"{path}.{i}"
        if isinstance(part, str):
            parts.append({"type": "text", "text": part})
            continue
        if not isinstance(part, dict):
            raise invalid(where, "Input should be a valid dictionary")
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            parts.append({"type": "text", "text": _str(part.get("text"), f"{where}.text")})
        elif kind == "refusal":
            parts.append({"type": "text", "text": _str(part.get("refusal"), f"{where}.refusal")})
        elif kind in ("input_image", "image_url"):
            parts.append(_image_part(part, where, policy))
        elif kind == "input_file":
            parts.append(_file_part(where, policy))
        # other part kinds (input_audio, future ones) are dropped
    return parts


def _text_of(parts: list[dict[str, Any]]) -> str:
    return PART_JOIN.join(part["text"] for part in parts if part["type"] == "text")


def _user_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]] | None:
    """String content when all text (vLLM-native shape), parts when images are present."""
    if not parts:
        return None
    if all(part["type"] == "text" for part in parts):
        return _text_of(parts)
    return parts


class _Builder:
    def __init__(
        self, *, sealer: ReasoningSealer, policy: MediaPolicy, memory: SearchMemory | None
    ) -> None:
        self.sealer = sealer
        self.policy = policy
        self.memory = memory
        self.system: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.assistant: _Assistant | None = None
        self.outputs: _Outputs | None = None

    # ------------------------------------------------------------------------------ flushing

    def flush_outputs(self) -> None:
        block = self.outputs
        if block is None:
            return
        self.outputs = None
        for call_id in block.call_ids:
            text = block.texts.get(call_id, MISSING_OUTPUT)
            self.messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        content = _user_content(block.rest)
        if content is not None:
            self.messages.append({"role": "user", "content": content})

    def flush_assistant(self) -> None:
        turn = self.assistant
        if turn is None:
            return
        self.assistant = None
        if not turn.texts and not turn.calls:
            return  # reasoning alone is no turn: nothing the model said or did
        message: dict[str, Any] = {"role": "assistant", "content": PART_JOIN.join(turn.texts)}
        if turn.reasoning:
            message["reasoning"] = PART_JOIN.join(turn.reasoning)
        if turn.calls:
            message["tool_calls"] = turn.calls
            self.outputs = _Outputs(call_ids=list(turn.call_ids))
        self.messages.append(message)

    def flush(self) -> None:
        self.flush_outputs()
        self.flush_assistant()
        self.flush_outputs()

    def open_assistant(self) -> _Assistant:
        self.flush_outputs()
        if self.assistant is None:
            self.assistant = _Assistant()
        return self.assistant

    # ------------------------------------------------------------------------------ items

    def message(self, item: dict[str, Any], path: str) -> None:
        role = item.get("role")
        if role is None:
            raise invalid(f"{path}.role", "Field required")
        parts = _parts(item.get("content"), f"{path}.content", self.policy)
        if role in ("system", "developer"):
            text = _text_of(parts)
            if text:
                self.system.append(text)
        elif role == "assistant":
            text = _text_of(parts)
            turn = self.assistant
            if turn is not None and turn.calls:
                self.flush_assistant()  # text after tool calls: the next model turn
            if text:
                self.open_assistant().texts.append(text)
        elif role == "user":
            self.flush()
            content = _user_content(parts)
            self.messages.append({"role": "user", "content": content if content else ""})
        else:
            raise invalid(
                f"{path}.role", "Input should be 'user', 'assistant', 'system' or 'developer'"
            )

    def reasoning(self, item: dict[str, Any]) -> None:
        turn = self.assistant
        if turn is not None and not turn.empty():
            self.flush_assistant()
        turn = self.open_assistant()
        text = self.sealer.open(item.get("encrypted_content"))
        if text:
            turn.reasoning.append(text)

    def call(self, item: dict[str, Any], path: str, *, custom: bool) -> None:
        call_id = _str(item.get("call_id"), f"{path}.call_id")
        name = _str(item.get("name"), f"{path}.name")
        namespace = item.get("namespace")
        if namespace is not None:
            namespace = _str(namespace, f"{path}.namespace")
        if custom:
            raw = _str(item.get("input", ""), f"{path}.input")
            arguments = json.dumps({"input": raw}, ensure_ascii=False)
        else:
            arguments = item.get("arguments", "")
            if isinstance(arguments, dict):
                arguments = json.dumps(arguments, ensure_ascii=False)
            arguments = _str(arguments, f"{path}.arguments")
        turn = self.open_assistant()
        if call_id in turn.call_ids:
            return  # a repeated id would make the tool messages ambiguous
        turn.call_ids.append(call_id)
        turn.calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {"name": upstream_name(name, namespace), "arguments": arguments},
            }
        )

    def search_call(self, item: dict[str, Any], path: str) -> None:
        """A client-executed ``tool_search_call``: a call of the upstream ``tool_search``.
        One without a ``call_id`` (a search OpenAI ran itself) has no answer to pair with."""
        if item.get("call_id") is None:
            return
        arguments = item.get("arguments")
        if arguments is None:
            arguments = {}
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False)
        self.call(
            {"call_id": item.get("call_id"), "name": TOOL_SEARCH, "arguments": arguments},
            path,
            custom=False,
        )

    def web_search_call(self, item: dict[str, Any], path: str) -> None:
        """A search the daemon ran: its call and its result, as the model saw them."""
        item_id = item.get("id")
        remembered = self.memory.result(item_id) if self.memory is not None else None
        if remembered is not None:
            call_id, arguments, text = (
                remembered.call_id,
                remembered.arguments,
                remembered.text,
            )
        else:
            action = item.get("action")
            query = action.get("query") if isinstance(action, dict) else None
            query = query if isinstance(query, str) else None
            if not isinstance(item_id, str) or not item_id or query is None:
                return  # nothing to show the model (and nothing to pair a result by)
            call_id = item_id
            arguments = json.dumps({"query": query or ""}, ensure_ascii=False)
            text = search_gone_text(query)
        self.call(
            {"call_id": call_id, "name": WEB_SEARCH, "arguments": arguments}, path, custom=False
        )
        self._result(call_id, text, [])

    def search_output(self, item: dict[str, Any], path: str) -> None:
        """A ``tool_search_output``: the tool's answer names the tools it loaded (their
        definitions go up as tools, see request.py)."""
        call_id = item.get("call_id")
        if call_id is not None:
            call_id = _str(call_id, f"{path}.call_id")
        self._result(call_id, loaded_tools_text(item.get("tools")), [])

    def output(self, item: dict[str, Any], path: str) -> None:
        call_id = item.get("call_id")
        if call_id is not None:
            call_id = _str(call_id, f"{path}.call_id")
        if "output" not in item:
            raise invalid(f"{path}.output", "Field required")
        parts = _parts(item.get("output"), f"{path}.output", self.policy)
        text = _text_of(parts)
        images = [part for part in parts if part["type"] != "text"]
        self._result(call_id, text, images)

    def _result(self, call_id: str | None, text: str, images: list[dict[str, Any]]) -> None:
        turn = self.assistant
        if turn is not None and turn.calls:
            self.flush_assistant()  # opens the outputs block of its calls
        block = self.outputs
        if block is not None and call_id in block.call_ids and call_id not in block.texts:
            block.texts[call_id] = text
            block.rest.extend(images)
            return
        # An output no preceding call asked for: kept as user text, not a tool message.
        orphan = [{"type": "text", "text": f"Tool output for {call_id}:\n{text}"}, *images]
        if block is not None:
            block.rest.extend(orphan)
        else:
            self.flush()
            content = _user_content(orphan)
            self.messages.append({"role": "user", "content": content})


def loaded_tools_text(tools: object) -> str:
    """What a ``tool_search_output`` tells the model: the upstream names (and descriptions)
    of the tools it loaded, which the request now offers."""
    lines = [
        f"- {name}: {description}" if description else f"- {name}"
        for name, description in _loaded_functions(tools)
    ]
    if not lines:
        return "No tools matched the search."
    return "Tools loaded (call them by these names):\n" + "\n".join(lines)


def _loaded_functions(tools: object) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "namespace":
            namespace = tool.get("name")
            inner = tool.get("tools")
            for entry in inner if isinstance(inner, list) else []:
                if isinstance(entry, dict) and isinstance(namespace, str):
                    found += _named(entry, namespace)
        else:
            found += _named(tool, None)
    return found


def _named(tool: dict[str, Any], namespace: str | None) -> list[tuple[str, str]]:
    name = tool.get("name")
    if tool.get("type", "function") != "function" or not isinstance(name, str) or not name:
        return []
    description = tool.get("description")
    first = description.strip().split("\n", 1)[0] if isinstance(description, str) else ""
    return [(upstream_name(name, namespace), first)]


def to_chat_messages(
    instructions: str | None,
    items: list[Any],
    *,
    sealer: ReasoningSealer,
    policy: MediaPolicy,
    memory: SearchMemory | None = None,
) -> list[dict[str, Any]]:
    """Chat messages for ``instructions`` and the input ``items`` (already a list);
    ``memory``: the daemon's hosted searches, for the ``web_search_call`` items.

    Raises ``ResponsesError`` (400) naming the field on malformed items; nothing else.
    """
    builder = _Builder(sealer=sealer, policy=policy, memory=memory)
    if instructions:
        builder.system.append(instructions)
    for i, item in enumerate(items):
        path = f"input.{i}"
        if not isinstance(item, dict):
            raise invalid(path, "Input should be a valid dictionary")
        kind = item.get("type")
        if kind is None or kind == "message":
            builder.message(item, path)
        elif kind == "reasoning":
            builder.reasoning(item)
        elif kind == "function_call":
            builder.call(item, path, custom=False)
        elif kind == "custom_tool_call":
            builder.call(item, path, custom=True)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            builder.output(item, path)
        elif kind == "tool_search_call":
            builder.search_call(item, path)
        elif kind == "tool_search_output":
            builder.search_output(item, path)
        elif kind == "web_search_call":
            builder.web_search_call(item, path)
        elif not isinstance(kind, str):
            raise invalid(f"{path}.type", "Input should be a valid string")
        # other kinds (local_shell_call, compaction, item_reference …):
        # nothing a chat model can take
    builder.flush()
    messages = builder.messages
    if builder.system:
        messages.insert(0, {"role": "system", "content": SECTION_JOIN.join(builder.system)})
    return messages
