"""From a reply spec and the request's limits to the exact sequence of output pieces.

Both the streaming and the non-streaming paths render the same `Generation`, so a stream
reassembled by a client always equals the non-streaming answer to the same request.

One piece is one streamed chunk and counts as ONE completion token (the simulator's documented
token accounting for output). Order: reasoning pieces, then text pieces, then for each tool call
a start piece (id, name, empty arguments) followed by its argument pieces.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from autosred.sim.replies import ReplySpec

PieceKind = Literal["reasoning", "content", "tool_start", "tool_args"]


@dataclass(frozen=True, slots=True)
class Piece:
    kind: PieceKind
    text: str = ""
    tool_index: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str


@dataclass(slots=True)
class Generation:
    """What the model 'generated' for one choice, after stop strings and max_tokens."""

    pieces: list[Piece]
    tool_calls: list[ToolCall]
    finish_reason: str
    stop_reason: str | None = None
    content: str = ""
    reasoning: str | None = None
    arguments: list[str] = field(default_factory=list)
    """The arguments text streamed for each tool call (truncation may leave it partial)."""

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces)


def default_text(user_text: str) -> str:
    return f"Simulated reply to: {user_text[:60]}"


def derive_id(seed: int, *parts: object) -> str:
    """32 hex digits, a pure function of the seed and the parts (the request counter, ...)."""
    material = ":".join(str(part) for part in (seed, *parts)).encode()
    return hashlib.blake2b(material, digest_size=16).hexdigest()


def split_text(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]


def split_exact(text: str, count: int) -> list[str]:
    """`count` non-empty pieces of near-equal length; the text is repeated if it is too short."""
    if not text:
        text = "."
    while len(text) < count:
        text += text
    base, extra = divmod(len(text), count)
    pieces, start = [], 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def split_arguments(arguments: str, size: int) -> list[str]:
    """Argument fragments of about `size` characters, over at least two chunks when possible."""
    if len(arguments) < 2:
        return [arguments]
    size = min(size, (len(arguments) + 1) // 2)
    return split_text(arguments, size)


def plan(
    spec: ReplySpec | None,
    *,
    user_text: str,
    stop: Sequence[str] = (),
    max_tokens: int | None = None,
    tool_id_seed: tuple[int, int] = (0, 0),
    allow_tools: bool = True,
    allow_reasoning: bool = True,
) -> Generation:
    """The generation for one choice.

    `tool_id_seed` is (seed, request number), so default tool-call ids are deterministic.
    Completions (`/v1/completions`) pass allow_tools/allow_reasoning False: text only.
    """
    spec = spec or ReplySpec()
    size = spec.chunk_size
    pieces: list[Piece] = []

    if allow_reasoning and spec.reasoning:
        pieces += [Piece("reasoning", part) for part in split_text(spec.reasoning, size)]

    tool_specs = spec.tool_calls if allow_tools else ()
    if spec.text is not None:
        text = spec.text
    elif tool_specs:
        text = ""
    else:
        text = default_text(user_text)
    text *= spec.repeat
    text_parts = split_exact(text, spec.chunks) if spec.chunks else split_text(text, size)

    stop_reason: str | None = None
    cut = _first_stop(text, stop) if stop else None
    if cut is not None:
        position, stop_reason = cut
        text_parts = _cut_parts(text_parts, position)
        tool_specs = ()  # generation ended at the stop string, before any tool call
    pieces += [Piece("content", part) for part in text_parts]

    tool_calls: list[ToolCall] = []
    for index, call in enumerate(tool_specs):
        call_id = call.id or f"chatcmpl-tool-{derive_id(*tool_id_seed, 'tool', index)}"
        tool_calls.append(ToolCall(call_id, call.name))
        arguments = call.arguments if isinstance(call.arguments, str) else _json(call.arguments)
        pieces.append(Piece("tool_start", "", index))
        pieces += [Piece("tool_args", part, index) for part in split_arguments(arguments, size)]

    if stop_reason is not None:
        finish_reason = "stop"
    elif spec.finish_reason is not None:
        finish_reason = spec.finish_reason
    else:
        finish_reason = "tool_calls" if tool_calls else "stop"

    if max_tokens is not None and len(pieces) > max_tokens:
        pieces = pieces[:max_tokens]
        finish_reason, stop_reason = "length", None

    return _assemble(pieces, tool_calls, finish_reason, stop_reason)


def _assemble(
    pieces: list[Piece], tool_calls: list[ToolCall], finish_reason: str, stop_reason: str | None
) -> Generation:
    reasoning = [piece.text for piece in pieces if piece.kind == "reasoning"]
    content = "".join(piece.text for piece in pieces if piece.kind == "content")
    started = {piece.tool_index for piece in pieces if piece.kind == "tool_start"}
    kept = [call for index, call in enumerate(tool_calls) if index in started]
    arguments = ["" for _ in kept]
    for piece in pieces:
        if piece.kind == "tool_args":
            arguments[piece.tool_index] += piece.text
    return Generation(
        pieces=pieces,
        tool_calls=kept,
        finish_reason=finish_reason,
        stop_reason=stop_reason,
        content=content,
        reasoning="".join(reasoning) if reasoning else None,
        arguments=arguments,
    )


def _first_stop(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for candidate in stops:
        if not candidate:
            continue
        position = text.find(candidate)
        if position >= 0 and (best is None or position < best[0]):
            best = (position, candidate)
    return best


def _cut_parts(parts: list[str], position: int) -> list[str]:
    kept: list[str] = []
    consumed = 0
    for part in parts:
        if consumed + len(part) <= position:
            kept.append(part)
            consumed += len(part)
            continue
        remainder = part[: position - consumed]
        if remainder:
            kept.append(remainder)
        break
    return kept


def _json(value: object) -> str:
    # vLLM's tool parsers emit json.dumps(..., ensure_ascii=False) with the default separators.
    return json.dumps(value, ensure_ascii=False)
