"""vLLM ``chat.completion.chunk`` stream -> Anthropic Messages SSE events (sans-IO).

The grammar (doc 7.1, cases 15-25, 35-38, 42-43)::

    message_start ping (content_block_start content_block_delta* content_block_stop)*
    message_delta message_stop          -- or an ``error`` event, then nothing

* exactly one block open at a time; indices 0, 1, 2 … in order of the final ``content``;
* no block is opened for empty or whitespace-only output (role-only first chunk, the "\\n\\n"
  many models print before a tool call), so there is never an empty text block;
* a thinking block ends with a non-empty ``signature_delta`` (HMAC of its text, signature.py);
* tool calls stream live one at a time; a call that starts while another's arguments are still
  incomplete JSON is buffered and emitted whole later, so interleaved fragments are never lost;
* ``message_delta`` waits for the usage chunk that follows ``finish_reason`` (or ``close``);
* an upstream failure after the start is an ``error`` event, never a made-up ``end_turn``.

``feed`` is the hot path: per text chunk it does a handful of dict lookups and builds one event.
"""

from __future__ import annotations

import json
from typing import Any

from autosred.proxy.anthropic.errors import AnthropicError, map_upstream_error
from autosred.proxy.anthropic.events import (
    MESSAGE_STOP,
    PING,
    Delta,
    Event,
    content_block_start,
    content_block_stop,
    error_event,
    new_message_id,
)
from autosred.proxy.anthropic.message import (
    cached_tokens_of,
    generated_tool_id,
    stop_reason_of,
    usage_fields,
)
from autosred.proxy.anthropic.request import ChatRequest
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.toolids import client_tool_id
from autosred.proxy.upstream import UpstreamError

_NONE, _TEXT, _THINKING, _TOOL = 0, 1, 2, 3
_STREAM_ERROR_TYPES = frozenset(
    {"overloaded_error", "api_error", "invalid_request_error", "rate_limit_error"}
)


class _Tool:
    """One upstream tool call (by its delta ``index``)."""

    __slots__ = ("args", "block", "closed", "id", "name", "parsed_upto")

    def __init__(self, call_id: str, name: str) -> None:
        self.id = call_id
        self.name = name
        self.args: list[str] = []  # every fragment, in order
        self.block = -1  # Anthropic block index once opened
        self.closed = False
        self.parsed_upto = -1  # len(args) when the arguments last failed to parse

    def complete(self) -> bool:
        """Whether the arguments so far are a whole JSON value (no fragment can follow)."""
        if self.parsed_upto == len(self.args):
            return False
        try:
            json.loads("".join(self.args))
        except ValueError:
            self.parsed_upto = len(self.args)
            return False
        return True


class MessageStreamTranslator:
    """Turns vLLM stream chunks into Anthropic events for one response."""

    def __init__(
        self,
        *,
        model: str,
        signer: ThinkingSigner,
        message_id: str | None = None,
        input_tokens: int = 0,
        single_tool_call: bool = False,
        request_id: str | None = None,
        requested_max_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.message_id = message_id or new_message_id()
        self.request_id = request_id
        self.anomalies: list[str] = []
        """Oddities worth a log line (dropped fragments, ignored parallel calls)."""
        self._signer = signer
        self._single = single_tool_call
        self._max_tokens = requested_max_tokens
        self.started = False
        self.finished = False
        self._next = 0  # next block index
        self._open = _NONE
        self._index = -1  # index of the open block
        self._held_text = ""  # whitespace not yet worth a text block
        self._held_thinking = ""
        self._thinking: list[str] = []
        self._tools: dict[int, _Tool] = {}
        self._open_tool: _Tool | None = None
        self._ignored: set[int] = set()
        self._tool_blocks = 0
        self._finish: object = None
        self._stop: object = None
        self._prompt = input_tokens
        self._cached = 0
        self._completion = -1  # -1: no usage seen; _deltas is the estimate
        self._deltas = 0

    @classmethod
    def for_request(
        cls,
        request: ChatRequest,
        *,
        signer: ThinkingSigner,
        input_tokens: int = 0,
        message_id: str | None = None,
        request_id: str | None = None,
    ) -> MessageStreamTranslator:
        return cls(
            model=request.client_model,
            signer=signer,
            message_id=message_id,
            input_tokens=input_tokens,
            single_tool_call=request.single_tool_call,
            request_id=request_id,
            requested_max_tokens=request.max_tokens,
        )

    # ---------------------------------------------------------------------------- start/ping

    def start(self) -> list[Event]:
        """``message_start`` and a ``ping``, once; call early to answer before the first token.

        ``input_tokens`` then comes from the constructor (``/tokenize`` or an estimate) and is
        corrected by ``message_delta``'s cumulative usage.
        """
        if self.started:
            return []
        self.started = True
        usage = usage_fields(self._prompt, self._cached)
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage["input_tokens"],
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": usage["cache_read_input_tokens"],
            },
        }
        return [Event("message_start", {"type": "message_start", "message": message}), PING]

    @property
    def finishing(self) -> bool:
        """Whether ``finish_reason`` arrived: the content is complete, only usage may follow."""
        return self._finish is not None

    def expect_input_tokens(self, count: int) -> None:
        """The prompt size ``message_start`` reports if it goes out before the first upstream
        chunk (long prefill, case 24); the final ``message_delta`` carries the real count."""
        if not self.started:
            self._prompt = count

    def ping(self) -> list[Event]:
        """A keep-alive while waiting for upstream (nothing once the stream has ended)."""
        if self.finished:
            return []
        return self.start() if not self.started else [PING]

    # ---------------------------------------------------------------------------- feed

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """Events for one parsed upstream chunk (``data: {…}`` of vLLM's SSE)."""
        if self.finished:
            return []
        events: list[Event] = []
        try:  # free unless raised; a malformed chunk ends the stream with an error event
            self._feed(chunk, events)
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            events.extend(self._fail(UpstreamError("protocol", detail=f"bad chunk ({exc})")))
        return events

    def _feed(self, chunk: dict[str, Any], events: list[Event]) -> None:
        usage = chunk.get("usage")
        if usage:
            self._take_usage(usage)
        if not self.started:
            events.extend(self.start())
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta")
            if delta:
                # vLLM renamed reasoning_content to reasoning (PR#27752); read both.
                reasoning = delta.get("reasoning") or delta.get("reasoning_content")
                if reasoning:
                    if not isinstance(reasoning, str):
                        raise TypeError("delta.reasoning is not a string")
                    self._deltas += 1
                    self._on_reasoning(reasoning, events)
                content = delta.get("content")
                if content:
                    if not isinstance(content, str):
                        raise TypeError("delta.content is not a string")
                    self._deltas += 1
                    self._on_text(content, events)
                calls = delta.get("tool_calls")
                if calls:
                    self._deltas += 1
                    self._on_tool_calls(calls, events)
            finish = choice.get("finish_reason")
            if finish:
                if finish == "abort":
                    events.extend(self._fail(UpstreamError("aborted")))
                    return
                self._finish = finish
                self._stop = choice.get("stop_reason")
                self._close_blocks(events)
        elif "error" in chunk:
            # vLLM reports failures mid-stream as a chunk ``{"error": {…}}``.
            events.extend(self._fail(UpstreamError("http", body=chunk)))
        elif self._finish is not None and usage:
            self._end(events)  # the usage-only chunk that follows finish_reason

    def _take_usage(self, usage: dict[str, Any]) -> None:
        prompt = usage.get("prompt_tokens")
        if isinstance(prompt, int):
            self._prompt = prompt
            self._cached = cached_tokens_of(usage)
        completion = usage.get("completion_tokens")
        if isinstance(completion, int):
            self._completion = completion

    # ---------------------------------------------------------------------------- blocks

    def _open_block(self, kind: int, block: dict[str, Any], events: list[Event]) -> int:
        index = self._next
        self._next = index + 1
        self._open = kind
        self._index = index
        events.append(content_block_start(index, block))
        return index

    def _close_open(self, events: list[Event]) -> None:
        kind = self._open
        if kind == _NONE:
            return
        index = self._index
        if kind == _THINKING:
            signature = self._signer.sign("".join(self._thinking))
            self._thinking = []
            events.append(Delta(index, "signature_delta", signature))
        elif kind == _TOOL:
            tool = self._open_tool
            if tool is not None:
                tool.closed = True
            self._open_tool = None
        events.append(content_block_stop(index))
        self._open = _NONE

    def _on_text(self, text: str, events: list[Event]) -> None:
        if self._open == _TEXT:
            events.append(Delta(self._index, "text_delta", text))
            return
        if text.isspace():
            self._held_text += text
            return
        text = self._held_text + text
        self._held_text = ""
        self._close_open(events)
        index = self._open_block(_TEXT, {"type": "text", "text": ""}, events)
        events.append(Delta(index, "text_delta", text))

    def _on_reasoning(self, text: str, events: list[Event]) -> None:
        if self._open == _THINKING:
            self._thinking.append(text)
            events.append(Delta(self._index, "thinking_delta", text))
            return
        if text.isspace():
            self._held_thinking += text
            return
        text = self._held_thinking + text
        self._held_thinking = ""
        self._held_text = ""  # whitespace between text and resumed reasoning (case 43)
        self._close_open(events)
        index = self._open_block(
            _THINKING, {"type": "thinking", "thinking": "", "signature": ""}, events
        )
        self._thinking = [text]
        events.append(Delta(index, "thinking_delta", text))

    # ---------------------------------------------------------------------------- tools

    def _on_tool_calls(self, calls: list[Any], events: list[Event]) -> None:
        for call in calls:
            if not isinstance(call, dict):
                continue
            index = call.get("index", 0)
            if not isinstance(index, int):
                index = 0
            if index in self._ignored:
                continue
            function = call.get("function") or {}
            tool = self._tools.get(index)
            if tool is None:
                if self._single and self._tools:
                    self._ignored.add(index)
                    self.anomalies.append(
                        f"tool call #{index} dropped: disable_parallel_tool_use is set"
                    )
                    continue
                call_id = call.get("id")
                if not isinstance(call_id, str) or not call_id:
                    call_id = generated_tool_id(self.message_id, index)
                name = function.get("name")
                tool = _Tool(call_id, name if isinstance(name, str) else "")
                self._tools[index] = tool
                self._held_text = ""  # no whitespace-only text block beside tool_use
            elif not tool.name:
                name = function.get("name")
                if isinstance(name, str):
                    tool.name = name
            arguments = function.get("arguments")
            if isinstance(arguments, str) and arguments:
                if tool.closed:
                    self.anomalies.append(
                        f"tool call {tool.id}: fragment after its block closed was dropped"
                    )
                    continue
                tool.args.append(arguments)
                if tool is self._open_tool:
                    events.append(_json_delta(tool.block, arguments))
                    continue
            if tool.block < 0:
                self._try_open(tool, events)

    def _try_open(self, tool: _Tool, events: list[Event]) -> None:
        """Open ``tool``'s block now unless another call's arguments are still incomplete."""
        if not tool.name:
            return  # a block needs its name; wait for it
        current = self._open_tool
        if current is not None and not current.complete():
            return  # buffered; emitted whole when the stream finishes
        self._emit_tool(tool, events)

    def _emit_tool(self, tool: _Tool, events: list[Event]) -> None:
        self._close_open(events)
        tool.block = self._open_block(
            _TOOL,
            {"type": "tool_use", "id": client_tool_id(tool.id), "name": tool.name, "input": {}},
            events,
        )
        self._open_tool = tool
        self._tool_blocks += 1
        if tool.args:
            # First-chunk arguments (and any buffered ones) are sent, never dropped (case 35).
            events.append(_json_delta(tool.block, "".join(tool.args)))

    def _close_blocks(self, events: list[Event]) -> None:
        self._close_open(events)
        for _, tool in sorted(self._tools.items()):
            if tool.block < 0:
                if not tool.name:
                    self.anomalies.append(f"tool call {tool.id} dropped: it never had a name")
                    continue
                self._emit_tool(tool, events)
                self._close_open(events)
        self._held_text = ""
        self._held_thinking = ""

    # ---------------------------------------------------------------------------- end

    def _end(self, events: list[Event]) -> None:
        self._close_blocks(events)  # output after finish_reason (never from vLLM) still closes
        stop_reason, stop_sequence = stop_reason_of(
            self._finish, self._stop, tool_blocks=self._tool_blocks
        )
        usage: dict[str, int] = {
            "input_tokens": self._prompt - min(self._cached, self._prompt),
            "output_tokens": self._completion if self._completion >= 0 else self._deltas,
        }
        if self._cached:
            usage["cache_read_input_tokens"] = min(self._cached, self._prompt)
        events.append(
            Event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                    "usage": usage,
                },
            )
        )
        events.append(MESSAGE_STOP)
        self.finished = True

    def _fail(self, error: UpstreamError | AnthropicError) -> list[Event]:
        self.finished = True
        if isinstance(error, UpstreamError):
            error = map_upstream_error(error, requested_max_tokens=self._max_tokens)
        # After a 200 the type is all a client can steer on: overloaded/api errors are retried,
        # invalid_request (e.g. "prompt is too long" after an early message_start) and
        # rate_limit keep their meaning; the rest are api errors of this stream.
        kind = error.type if error.type in _STREAM_ERROR_TYPES else "api_error"
        return [error_event(kind, error.message, self.request_id)]

    def close(self, error: UpstreamError | AnthropicError | None = None) -> list[Event]:
        """Events that end the stream: the final message_delta/message_stop after a finish,
        an ``error`` event for ``error`` or for a stream that ended without finish_reason."""
        if self.finished:
            return []
        if error is None and self._finish is not None:
            events = self.start() if not self.started else []
            self._end(events)
            return events
        return self._fail(error if error is not None else UpstreamError("closed"))


def _json_delta(index: int, partial: str) -> Event:
    return Delta(index, "input_json_delta", partial)
