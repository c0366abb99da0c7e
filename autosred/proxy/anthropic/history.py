"""Anthropic turns -> Chat Completions messages: inline system folding and tool adjacency.

Two rules shape everything here:

* The prompt prefix must stay stable across turns (vLLM prefix caching is the main latency win
  of an agent loop), so inline ``role: "system"`` turns only ever change the end of the
  conversation: leading ones join the system prompt; later ones are folded into the user turn
  before them (or, failing that, after them). Folding never adds a user turn after tool
  results (many templates keep reasoning only after the last real user turn) and never lands
  between an assistant's tool calls and their results.
* An assistant message with ``tool_calls`` must be followed directly by one ``tool`` message
  per call (codex#7051, Mistral templates); everything else the user turn carries (its own
  text, images returned by tools) follows as one user message (docs/conformance.md §7.2).
"""

from __future__ import annotations

import json
from typing import Any

from autosred.proxy.anthropic.content import (
    Block,
    Image,
    ServerToolResult,
    ServerToolUse,
    Text,
    Thinking,
    ToolResult,
    ToolUse,
    Turn,
)
from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.toolids import upstream_tool_id
from autosred.proxy.hosted.executor import failure_text, fetch_text, search_text
from autosred.proxy.hosted.seal import ContentSealer
from autosred.proxy.hosted.web import WebHit

# Separator between text blocks of one turn and between system sections. vLLM joins text
# parts with "\n" when a template wants string content, so counts match native rendering.
JOIN = "\n"
MISSING_RESULT = "Tool call interrupted: no result was recorded."


def _texts(turn: Turn) -> list[str]:
    return [block.text for block in turn.blocks if isinstance(block, Text) and block.text]


def _has_tool_use(turn: Turn) -> bool:
    return turn.role == "assistant" and any(isinstance(b, ToolUse) for b in turn.blocks)


def _out_of_tool_runs(turns: list[Turn]) -> list[Turn]:
    """Move system turns sitting between a tool_use turn and its results to after them."""
    out: list[Turn] = []
    held: list[Turn] = []
    awaiting_results = False
    for turn in turns:
        if turn.role == "system":
            (held if awaiting_results else out).append(turn)
            continue
        if turn.role == "assistant":
            out.extend(held)
            held.clear()
        out.append(turn)
        if turn.role == "user":
            out.extend(held)
            held.clear()
        awaiting_results = _has_tool_use(turn)
    out.extend(held)
    return out


def _append_to_user(turn: Turn, texts: list[str]) -> None:
    blocks = turn.blocks
    if blocks and all(isinstance(b, ToolResult) for b in blocks):
        # A tool-results-only turn becomes tool messages: appending a user message would
        # start a new user turn, so the note joins the last result instead.
        last = blocks[-1]
        assert isinstance(last, ToolResult)
        last.text = JOIN.join([last.text, *texts] if last.text else texts)
    else:
        blocks.extend(Text(text) for text in texts)


def fold_inline_system(turns: list[Turn]) -> tuple[list[str], list[Turn]]:
    """Split off inline system turns: (texts for the system prompt, remaining turns)."""
    leading: list[str] = []
    start = 0
    while start < len(turns) and turns[start].role == "system":
        leading.extend(_texts(turns[start]))
        start += 1
    rest = turns[start:]
    if all(turn.role != "system" for turn in rest):
        return leading, rest
    out: list[Turn] = []
    pending: list[str] = []  # system text after an assistant turn, waiting for a user turn
    for turn in _out_of_tool_runs(rest):
        if turn.role == "system":
            texts = _texts(turn)
            if not texts:
                continue
            if out and out[-1].role == "user" and not pending:
                _append_to_user(out[-1], texts)
            else:
                pending.extend(texts)
            continue
        if pending:
            notes: list[Block] = [Text(text) for text in pending]
            pending = []
            if turn.role == "user":
                turn.blocks[:0] = notes
            else:
                out.append(Turn("user", notes))
        out.append(turn)
    if pending:
        out.append(Turn("user", [Text(text) for text in pending]))
    return leading, out


def _result_text(result: ToolResult) -> str:
    if not result.is_error:
        return result.text
    # is_error is otherwise invisible to the model; mark it in the text.
    return f"Error: {result.text}" if result.text else "Error"


def _user_content(blocks: list[Block]) -> str | list[dict[str, Any]] | None:
    """String content when all text (vLLM-native shape), parts when images are present."""
    if not any(isinstance(block, Image) for block in blocks):
        texts = [block.text for block in blocks if isinstance(block, Text)]
        return JOIN.join(texts) if texts else None
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, Text):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, Image):
            parts.append({"type": "image_url", "image_url": {"url": block.url}})
    return parts


def _orphan(result: ToolResult) -> list[Block]:
    """A tool result no preceding call asked for: kept as user text, not a tool message."""
    blocks: list[Block] = [Text(f"Tool result for {result.tool_use_id}:\n{_result_text(result)}")]
    blocks.extend(Image(url) for url in result.images)
    return blocks


def _user_messages(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[Block] = []
    for block in turn.blocks:
        if isinstance(block, ToolResult):
            blocks.extend(_orphan(block))
        else:
            blocks.append(block)
    content = _user_content(blocks)
    return [] if content is None else [{"role": "user", "content": content}]


def _answers(call_ids: list[str], turn: Turn | None) -> list[dict[str, Any]]:
    """The tool messages for ``call_ids`` (in call order) and the rest of the user turn."""
    results: dict[str, ToolResult] = {}
    rest: list[Block] = []
    if turn is not None:
        for block in turn.blocks:
            if isinstance(block, ToolResult):
                key = upstream_tool_id(block.tool_use_id)
                if key in call_ids and key not in results:
                    results[key] = block
                else:
                    rest.extend(_orphan(block))
            else:
                rest.append(block)
    messages: list[dict[str, Any]] = []
    images: list[Block] = []
    for call_id in call_ids:
        result = results.get(call_id)
        text = MISSING_RESULT if result is None else _result_text(result)
        messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        if result is not None:
            images.extend(Image(url) for url in result.images)
    # Images returned by tools follow all tool messages (one user message), so a user turn
    # never splits the tool messages of one assistant turn.
    content = _user_content([*images, *rest])
    if content is not None:
        messages.append({"role": "user", "content": content})
    return messages


def _arguments(block: ToolUse) -> str:
    try:
        # json.dumps' default separators match what models emit, which keeps the re-rendered
        # history close to the tokens the model produced.
        return json.dumps(block.input, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise AnthropicError.invalid_request(
            f"tool_use {block.id}: input contains NaN or Infinity, which JSON cannot carry"
        ) from None


def _assistant(turn: Turn, signer: ThinkingSigner) -> tuple[dict[str, Any] | None, list[str]]:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    call_ids: list[str] = []
    for block in turn.blocks:
        if isinstance(block, Text):
            texts.append(block.text)
        elif isinstance(block, Thinking):
            # Only reasoning this daemon signed goes back to the model (signature.py).
            if block.text and signer.verify(block.text, block.signature):
                reasoning.append(block.text)
        elif isinstance(block, ToolUse):
            call_id = upstream_tool_id(block.id)
            if call_id in call_ids:
                continue  # a repeated id would make the tool messages ambiguous
            call_ids.append(call_id)
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {
                        "name": block.name,
                        "arguments": _arguments(block),
                    },
                }
            )
    if not texts and not reasoning and not calls:
        return None, []
    message: dict[str, Any] = {"role": "assistant", "content": JOIN.join(texts)}
    if reasoning:
        message["reasoning"] = JOIN.join(reasoning)
    if calls:
        message["tool_calls"] = calls
    return message, call_ids


def server_result_text(
    result: ServerToolResult, call: ServerToolUse | None, sealer: ContentSealer | None
) -> str:
    """What the model read for a hosted tool's result, rebuilt from the block the client sent
    back (a search's snippets open from their ``encrypted_content``; see hosted/seal.py)."""
    if result.error_code is not None:
        return failure_text(result.error_code)
    if result.kind == "web_fetch":
        return fetch_text(result.url, result.title, result.text)
    query = call.input.get("query") if call is not None else None
    hits = []
    for ref in result.hits:
        opened = sealer.open(ref.encrypted_content, bound_to=ref.url) if sealer else None
        hits.append((WebHit(ref.title, ref.url, page_age=ref.page_age), opened or ""))
    return search_text(query if isinstance(query, str) else None, hits)


def _hosted_rounds(
    turn: Turn, signer: ThinkingSigner, sealer: ContentSealer | None
) -> tuple[list[dict[str, Any]], Turn]:
    """An assistant turn with hosted tool rounds (server_tool_use, then its result blocks)
    as the conversation the model saw: per round an assistant message with the calls, then
    one tool message per call; and the part of the turn after the last result."""
    blocks = turn.blocks
    last = max(
        (i for i, block in enumerate(blocks) if isinstance(block, ServerToolResult)), default=-1
    )
    if last < 0:
        return [], turn
    messages: list[dict[str, Any]] = []
    segment: list[Block] = []
    calls: dict[str, ServerToolUse] = {}
    results: dict[str, ServerToolResult] = {}

    def flush() -> None:
        converted: list[Block] = [
            ToolUse(b.id, b.name, b.input) if isinstance(b, ServerToolUse) else b for b in segment
        ]
        message, call_ids = _assistant(Turn("assistant", converted), signer)
        if message is not None:
            messages.append(message)
        by_upstream = {upstream_tool_id(key): key for key in calls}
        for call_id in call_ids:
            key = by_upstream.get(call_id)
            result = results.get(key) if key is not None else None
            text = (
                MISSING_RESULT
                if result is None or key is None
                else server_result_text(result, calls[key], sealer)
            )
            messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        segment.clear()
        calls.clear()
        results.clear()

    for block in blocks[: last + 1]:
        if isinstance(block, ServerToolResult):
            results.setdefault(block.tool_use_id, block)
            continue
        if results:  # a block after the results starts the next round
            flush()
        segment.append(block)
        if isinstance(block, ServerToolUse):
            calls.setdefault(block.id, block)
    flush()
    return messages, Turn("assistant", blocks[last + 1 :])


def to_chat_messages(
    system: list[str],
    turns: list[Turn],
    signer: ThinkingSigner,
    *,
    sealer: ContentSealer | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Chat messages, and whether the last one is an assistant prefill to continue."""
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": JOIN.join(system)})
    prefill = False
    index = 0
    while index < len(turns):
        turn = turns[index]
        index += 1
        if turn.role != "assistant":
            messages.extend(_user_messages(turn))
            prefill = False
            continue
        rounds, turn = _hosted_rounds(turn, signer, sealer)
        if rounds:
            messages.extend(rounds)
            prefill = False
        message, call_ids = _assistant(turn, signer)
        if message is None:
            continue
        messages.append(message)
        prefill = not call_ids
        if call_ids:
            answer = None
            if index < len(turns) and turns[index].role == "user":
                answer = turns[index]
                index += 1
            messages.extend(_answers(call_ids, answer))
    return messages, prefill and bool(messages) and messages[-1]["role"] == "assistant"
