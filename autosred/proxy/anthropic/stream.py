"""vLLM ``chat.completion.chunk`` stream -> Anthropic Messages SSE events (sans-IO).

The grammar (docs/conformance.md: the transcript of §7.1; cases 15-25, 35-38, 42-43)::

    message_start ping (content_block_start content_block_delta* content_block_stop)*
    message_delta message_stop          -- or an ``error`` event, then nothing

* exactly one block open at a time; indices 0, 1, 2 … in order of the final ``content``;
* no block is opened for empty or whitespace-only output (role-only first chunk, the "\\n\\n"
  many models print before a tool call), so there is never an empty text block;
* a thinking block ends with a non-empty ``signature_delta`` (HMAC of its text, signature.py);
* tool calls stream live one at a time, interleaved ones buffered (proxy/chatstream.py, which
  reads the chunks for every surface);
* ``message_delta`` waits for the usage chunk that follows ``finish_reason`` (or ``close``);
* an upstream failure after the start is an ``error`` event, never a made-up ``end_turn``.

``feed`` is the hot path: per text chunk a handful of dict lookups and one ``Delta`` built from
a pre-formatted template (events.py).
"""

from __future__ import annotations

from collections.abc import Callable
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
from autosred.proxy.anthropic.message import generated_tool_id, stop_reason_of, usage_fields
from autosred.proxy.anthropic.request import ChatRequest
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.toolids import client_tool_id, server_tool_id
from autosred.proxy.chatstream import ChatStreamTranslator, ToolCall, assistant_round
from autosred.proxy.prompt import estimate_prompt_tokens
from autosred.proxy.upstream import UpstreamError

_NONE, _TEXT, _THINKING, _TOOL = 0, 1, 2, 3
_STREAM_ERROR_TYPES = frozenset(
    {"overloaded_error", "api_error", "invalid_request_error", "rate_limit_error"}
)


class MessageStreamTranslator(ChatStreamTranslator[Event, AnthropicError, ToolCall]):
    """Turns vLLM stream chunks into Anthropic events for one response."""

    _PARALLEL_OFF = "disable_parallel_tool_use is set"
    _OUTPUT_UNIT = "block"

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
        prompt_estimate: Callable[[], int] | None = None,
        hosted: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(single_tool_call=single_tool_call, input_tokens=input_tokens)
        self._estimate = prompt_estimate
        """The prompt size when the stream opens before the server said it (long prefill)."""
        self.model = model
        self.message_id = message_id or new_message_id()
        self.request_id = request_id
        self._signer = signer
        self._max_tokens = requested_max_tokens
        self._next = 0  # next block index
        self._open = _NONE
        self._index = -1  # index of the open block
        self._thinking: list[str] = []
        self._tool_blocks = 0
        self._hosted = hosted
        """Names of the hosted tools: a call of one is a ``server_tool_use`` block."""
        self.round_pending = False
        """The round ended on hosted tool calls: the response goes on once they ran
        (proxy/anthropic/hosted.py), so ``message_delta`` waits."""
        self.server_tool_use: dict[str, int] | None = None
        """``usage.server_tool_use`` of the final ``message_delta`` (hosted tools offered)."""
        self._round_text: list[str] = []
        self._round_reasoning: list[str] = []

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
            hosted=frozenset(tool.name for tool in request.hosted),
            model=request.client_model,
            signer=signer,
            message_id=message_id,
            input_tokens=input_tokens,
            single_tool_call=request.single_tool_call,
            request_id=request_id,
            requested_max_tokens=request.max_tokens,
            prompt_estimate=None if input_tokens else lambda: estimate_prompt_tokens(request.body),
        )

    # ---------------------------------------------------------------------------- start/ping

    def start(self) -> list[Event]:
        """``message_start`` and a ``ping``, once; call early to answer before the first token.

        ``input_tokens`` is the count given (``/tokenize``), else the server's if a usage chunk
        came first, else the estimate (it errs high); ``message_delta`` carries the server's
        final count. The relay asks for usage only at the end (request.py's STREAM_OPTIONS),
        so the estimate is the usual case unless the request was counted.
        """
        if self.started:
            return []
        self.started = True
        if self._estimate is not None and self._completion < 0:  # no usage seen yet
            self._prompt = self._estimate()
        self._estimate = None
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

    def expect_input_tokens(self, count: int) -> None:
        """The prompt size ``message_start`` reports if it goes out before the first upstream
        chunk (long prefill, docs/conformance.md, case 24); the final ``message_delta``
        carries the real count."""
        super().expect_input_tokens(count)
        self._estimate = None

    def keepalive(self) -> list[Event]:
        """While waiting for upstream: ``message_start``, then a ``ping`` each time (nothing once
        the stream has ended)."""
        if self.finished and not self.round_pending:
            return []
        if self.started:
            return [PING]
        return self.start()

    # ---------------------------------------------------------------------------- blocks

    def _open_block(self, kind: int, block: dict[str, Any], events: list[Event]) -> int:
        index = self._next
        self._next = index + 1
        self._open = kind
        self._index = index
        events.append(content_block_start(index, block))
        return index

    def _close_open(self, events: list[Event], *, cut: bool = False) -> None:
        # ``cut`` changes nothing here: a content block carries no status.
        kind = self._open
        if kind == _NONE:
            return
        index = self._index
        if kind == _THINKING:
            signature = self._signer.sign("".join(self._thinking))
            self._thinking = []
            events.append(Delta(index, "signature_delta", signature))
        elif kind == _TOOL:
            tool = self._open_call
            if tool is not None:
                tool.closed = True
            self._open_call = None
        events.append(content_block_stop(index))
        self._open = _NONE

    def _on_text(self, text: str, events: list[Event]) -> None:
        if self._hosted:
            self._round_text.append(text)
        if self._open == _TEXT:
            events.append(Delta(self._index, "text_delta", text))
            return
        opening = self._opening_text(text, events)
        if opening is None:
            return
        index = self._open_block(_TEXT, {"type": "text", "text": ""}, events)
        events.append(Delta(index, "text_delta", opening))

    def _on_reasoning(self, text: str, events: list[Event]) -> None:
        if self._hosted:
            self._round_reasoning.append(text)
        if self._open == _THINKING:
            self._thinking.append(text)
            events.append(Delta(self._index, "thinking_delta", text))
            return
        # Reasoning after text or a tool call opens a new thinking block (docs/conformance.md,
        # case 43); the white space held before it goes along.
        opening = self._opening_reasoning(text, events)
        if opening is None:
            return
        index = self._open_block(
            _THINKING, {"type": "thinking", "thinking": "", "signature": ""}, events
        )
        self._thinking = [opening]
        events.append(Delta(index, "thinking_delta", opening))

    # ---------------------------------------------------------------------------- tools

    def _new_call(self, call_id: str, name: str) -> ToolCall:
        return ToolCall(call_id, name)

    def _generated_call_id(self, index: int) -> str:
        return generated_tool_id(self.message_id, index)

    def _stream_arguments(self, call: ToolCall, fragment: str, events: list[Event]) -> None:
        events.append(Delta(call.output_index, "input_json_delta", fragment))

    def _start_call(self, call: ToolCall, events: list[Event]) -> None:
        self._close_open(events)
        hosted = call.name in self._hosted
        tool_use: dict[str, Any] = {
            "type": "server_tool_use" if hosted else "tool_use",
            "id": (server_tool_id if hosted else client_tool_id)(call.call_id),
            "name": call.name,
            "input": {},
        }
        call.output_index = self._open_block(_TOOL, tool_use, events)
        self._open_call = call
        if not hosted:
            self._tool_blocks += 1
        if call.args:
            # First-chunk arguments (and any buffered ones) are sent, never dropped
            # (docs/conformance.md, case 35).
            events.append(Delta(call.output_index, "input_json_delta", "".join(call.args)))

    # ---------------------------------------------------------------------------- end

    def _end(self, events: list[Event]) -> None:
        self._close_all(events)  # output after finish_reason (never from vLLM) still closes
        if self._hosted and self._finish != "length" and self.hosted_calls():
            # The daemon runs the calls and the model goes on in this same message.
            self.round_pending = True
            self.finished = True
            return
        self._conclude(events, None)

    def _conclude(self, events: list[Event], stop_reason: str | None) -> None:
        stop_sequence = None
        if stop_reason is None:
            stop_reason, stop_sequence = stop_reason_of(
                self._finish, self._stop, tool_blocks=self._tool_blocks
            )
        prompt, cached, output = self._usage_totals()
        usage: dict[str, Any] = {
            "input_tokens": prompt - min(cached, prompt),
            "output_tokens": output,
        }
        if cached:
            usage["cache_read_input_tokens"] = min(cached, prompt)
        if self.server_tool_use is not None:
            usage["server_tool_use"] = dict(self.server_tool_use)
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
        self.round_pending = False
        self.finished = True

    # ---------------------------------------------------------------------------- hosted rounds

    def hosted_calls(self) -> list[ToolCall]:
        """This round's calls of hosted tools (each one a ``server_tool_use`` block)."""
        return [
            call
            for call in self.round_calls()
            if call.output_index >= 0 and call.name in self._hosted
        ]

    def client_calls(self) -> int:
        """``tool_use`` blocks of this response: the client has tools to run."""
        return self._tool_blocks

    def round_message(self) -> dict[str, Any]:
        """This round as the assistant message the model wrote (for the next round)."""
        return assistant_round(self._round_text, self._round_reasoning, self.round_calls())

    def add_block(self, block: dict[str, Any]) -> list[Event]:
        """A whole block the daemon made (a hosted tool's result), at the next index."""
        events: list[Event] = []
        self._close_open(events)
        index = self._open_block(_NONE, block, events)
        self._open = _NONE
        events.append(content_block_stop(index))
        return events

    def next_round(self) -> None:
        super().next_round()
        self.round_pending = False
        self._round_text = []
        self._round_reasoning = []

    def close(self, error: UpstreamError | AnthropicError | None = None) -> list[Event]:
        """As the base's; a failure while the hosted tools of a round run (the daemon
        stopping) ends the open message with the error event too."""
        if error is not None and self.round_pending:
            self.round_pending = False
            self.finished = False
        return super().close(error)

    def conclude(self, stop_reason: str | None = None) -> list[Event]:
        """End the message after the hosted calls ran (``stop_reason``: the one to report,
        else the round's own)."""
        events: list[Event] = []
        self._conclude(events, stop_reason)
        return events

    def _map_error(self, error: UpstreamError) -> AnthropicError:
        return map_upstream_error(error, requested_max_tokens=self._max_tokens)

    def _failure_events(self, error: AnthropicError) -> list[Event]:
        # After a 200 the type is all a client can steer on: overloaded/api errors are retried,
        # invalid_request (e.g. "prompt is too long" after an early message_start) and
        # rate_limit keep their meaning; the rest are api errors of this stream.
        kind = error.type if error.type in _STREAM_ERROR_TYPES else "api_error"
        return [error_event(kind, error.message, self.request_id)]
