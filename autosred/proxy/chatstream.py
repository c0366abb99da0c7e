"""vLLM's streamed chat completion, read the same way for every translating surface (sans-IO).

A surface's stream translator subclasses ``ChatStreamTranslator``. This half reads each
``chat.completion.chunk``: reasoning, text and tool-call deltas, ``finish_reason``, in-band
``{"error": …}`` chunks and usage; it assembles tool calls by their delta ``index`` and decides
when a call may open. The subclass owns its event grammar: how the stream starts, what a delta
is (its pre-built frames), how an output block or item opens and closes, how the output ends
and how it fails.

* whitespace-only text or reasoning is held back until real output follows, so no empty text
  block or message is ever opened (the "\\n\\n" many models print before a tool call);
* tool calls stream live one at a time; a call that starts while another's arguments are
  still incomplete JSON is buffered and emitted whole when the output ends, so interleaved
  fragments are never lost; a call without a name is dropped (and noted in ``anomalies``);
* after ``finish_reason`` only the usage chunk is awaited; ``close`` ends the stream without it.

``feed`` is the hot path: per text chunk a handful of dict lookups and one call into the
subclass, which appends one templated event.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from autosred.proxy.outcome import StreamOutcome, TokenUsage
from autosred.proxy.upstream import UpstreamError

EventT = TypeVar("EventT")
ErrorT = TypeVar("ErrorT")
CallT = TypeVar("CallT", bound="ToolCall")


def int_or_zero(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def cached_tokens_of(usage: dict[str, Any]) -> int:
    """The prompt tokens served from vLLM's prefix cache (0 when not reported)."""
    details = usage.get("prompt_tokens_details")
    return int_or_zero(details.get("cached_tokens")) if isinstance(details, dict) else 0


class ToolCall:
    """One upstream tool call (by its delta ``index``), assembled from its fragments."""

    __slots__ = ("args", "call_id", "closed", "name", "output_index", "parsed_upto")

    def __init__(self, call_id: str, name: str) -> None:
        self.call_id = call_id
        self.name = name  # the upstream function name
        self.args: list[str] = []  # every argument fragment, in order
        self.output_index = -1  # its place in the client's output (block/item) once opened
        self.closed = False
        self.parsed_upto = -1  # len(args) when the arguments last failed to parse

    def complete(self) -> bool:
        """Whether the arguments so far are a whole JSON value (no fragment can follow)."""
        if self.parsed_upto == len(self.args):
            return False
        try:
            json.loads("".join(self.args))
        except (ValueError, RecursionError):
            self.parsed_upto = len(self.args)
            return False
        return True


def assistant_round(
    text: Iterable[str], reasoning: Iterable[str], calls: Iterable[ToolCall]
) -> dict[str, Any]:
    """One round of a response as the assistant message the model wrote: its text, its
    reasoning and the tool calls it opened, so the next round (after the daemon ran the
    hosted tools) continues the conversation exactly as the model saw it."""
    tool_calls = [
        {
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": "".join(call.args)},
        }
        for call in calls
        if call.output_index >= 0
    ]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    parts = list(reasoning)
    if parts:
        message["reasoning"] = "".join(parts)
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


class ChatStreamTranslator(ABC, Generic[EventT, ErrorT, CallT]):
    """Turns vLLM stream chunks into a surface's events for one response.

    ``EventT`` is the surface's event, ``ErrorT`` its error (``close`` takes one), ``CallT``
    the tool call it keeps (a ``ToolCall``, perhaps with the surface's own fields).
    """

    _PARALLEL_OFF: ClassVar[str]
    """Why a second tool call is dropped when the client asked for one at a time."""
    _OUTPUT_UNIT: ClassVar[str]
    """What a tool call becomes in the client's output ("block", "item"), for anomalies."""
    _FAILED_FINISHES: ClassVar[tuple[str, ...]] = ("abort", "error")
    """``finish_reason`` values that mean the server gave up: the stream fails (an error
    event, never a made-up end_turn)."""

    def __init__(self, *, single_tool_call: bool, input_tokens: int = 0) -> None:
        self.anomalies: list[str] = []
        """Oddities worth a log line (dropped fragments, ignored parallel calls)."""
        self.started = False
        self.finished = False
        self.error: ErrorT | None = None
        """Why the stream failed, in the surface's terms (once it has)."""
        self._single = single_tool_call
        self._calls: dict[int, CallT] = {}
        self._open_call: CallT | None = None
        self._ignored: set[int] = set()
        self._held_text = ""  # whitespace not yet worth opening output for
        self._held_reasoning = ""
        self._finish: object = None
        self._stop: object = None  # vLLM's stop_reason: the matched stop string or token
        self._prompt = input_tokens
        self._cached = 0
        self._completion = -1  # -1: no usage seen; _deltas is the estimate
        self._deltas = 0
        # Usage of the earlier rounds of a response the daemon continued after running a
        # hosted tool (next_round): (prompt, cached, output).
        self._rounds = (0, 0, 0)

    # ---------------------------------------------------------------------------- the surface

    @abstractmethod
    def start(self) -> list[EventT]:
        """The events that open the stream, once (``[]`` after that)."""

    @abstractmethod
    def keepalive(self) -> list[EventT]:
        """While the first chunk is awaited (a long prefill): the opening, then events that
        show the client the stream is alive (nothing once it has ended)."""

    @abstractmethod
    def _on_text(self, text: str, events: list[EventT]) -> None: ...

    @abstractmethod
    def _on_reasoning(self, text: str, events: list[EventT]) -> None: ...

    @abstractmethod
    def _new_call(self, call_id: str, name: str) -> CallT: ...

    @abstractmethod
    def _generated_call_id(self, index: int) -> str:
        """An upstream-style id for a tool call vLLM sent without one."""

    @abstractmethod
    def _start_call(self, call: CallT, events: list[EventT]) -> None:
        """Close what is open, open ``call``'s output (it becomes ``_open_call``) and send the
        arguments it already has."""

    @abstractmethod
    def _stream_arguments(self, call: CallT, fragment: str, events: list[EventT]) -> None:
        """One more argument fragment of the open call."""

    @abstractmethod
    def _close_open(self, events: list[EventT], *, cut: bool = False) -> None:
        """Close the open output; ``cut``: the output ended at the token limit inside it."""

    @abstractmethod
    def _end(self, events: list[EventT]) -> None:
        """The finish (after ``_close_all``): the closing events; sets ``finished``."""

    @abstractmethod
    def _map_error(self, error: UpstreamError) -> ErrorT:
        """The surface's error for a model server's failure."""

    @abstractmethod
    def _failure_events(self, error: ErrorT) -> list[EventT]:
        """The events that end the stream with ``error``."""

    def _fail(self, error: UpstreamError | ErrorT) -> list[EventT]:
        """The events that end the stream with ``error``; sets ``finished`` and ``error``."""
        if isinstance(error, UpstreamError):
            error = self._map_error(error)
        self.finished = True
        self.error = error
        return self._failure_events(error)

    # ---------------------------------------------------------------------------- outcome

    def expect_input_tokens(self, count: int) -> None:
        """The prompt size to report before the server's first chunk says it (the opening of
        a long prefill); that chunk's usage, when it comes, replaces it."""
        if not self.started:
            self._prompt = count

    @property
    def outcome(self) -> StreamOutcome[ErrorT]:
        """Where the stream stands: running, completed (with its usage) or failed."""
        if not self.finished:
            return StreamOutcome("running", None, None)
        if self.error is not None:
            return StreamOutcome("failed", None, self.error)
        prompt, _, output = self._usage_totals()
        return StreamOutcome("completed", TokenUsage(prompt, output), None)

    def _usage_totals(self) -> tuple[int, int, int]:
        """(prompt, cached, output) tokens of the response: every round's summed."""
        prompt, cached, output = self._rounds
        this_output = self._completion if self._completion >= 0 else self._deltas
        return prompt + self._prompt, cached + self._cached, output + this_output

    # ---------------------------------------------------------------------------- rounds

    def next_round(self) -> None:
        """Read another upstream stream into the same response: the daemon ran the hosted
        tools the model called and calls the model again with their results. The output
        already sent stays open (no second opening); usage adds up."""
        self._rounds = self._usage_totals()
        self.finished = False
        self.error = None
        self._calls = {}
        self._open_call = None
        self._ignored = set()
        self._held_text = ""
        self._held_reasoning = ""
        self._finish = None
        self._stop = None
        self._prompt = 0
        self._cached = 0
        self._completion = -1
        self._deltas = 0

    def round_calls(self) -> list[CallT]:
        """The tool calls of the current round, in the model's order."""
        return [call for _, call in sorted(self._calls.items())]

    # ---------------------------------------------------------------------------- feed

    @property
    def finishing(self) -> bool:
        """Whether ``finish_reason`` arrived: the output is complete, only usage may follow."""
        return self._finish is not None

    def feed(self, chunk: dict[str, Any]) -> list[EventT]:
        """Events for one parsed upstream chunk (``data: {…}`` of vLLM's SSE)."""
        if self.finished:
            return []
        events: list[EventT] = []
        try:  # free unless raised; a malformed chunk ends the stream as a failure
            self._feed(chunk, events)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            events.extend(self._fail(UpstreamError("protocol", detail=f"bad chunk ({exc})")))
        return events

    def _feed(self, chunk: dict[str, Any], events: list[EventT]) -> None:
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
                if finish in self._FAILED_FINISHES:
                    events.extend(self._fail(UpstreamError("aborted", detail=str(finish))))
                    return
                self._finish = finish
                self._stop = choice.get("stop_reason")
                self._close_all(events)
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

    # ---------------------------------------------------------------------------- white space

    def _opening_text(self, text: str, events: list[EventT]) -> str | None:
        """``text`` when it opens new text output: the white space held before it put back,
        the open output closed. None (``text`` held) while there is only white space."""
        if text.isspace():
            self._held_text += text
            return None
        self._close_open(events)
        text = self._held_text + text
        self._held_text = ""
        return text

    def _opening_reasoning(self, text: str, events: list[EventT]) -> str | None:
        """The same for reasoning; white space held between text and reasoning is dropped."""
        if text.isspace():
            self._held_reasoning += text
            return None
        self._close_open(events)
        text = self._held_reasoning + text
        self._held_reasoning = ""
        self._held_text = ""
        return text

    # ---------------------------------------------------------------------------- tool calls

    def _on_tool_calls(self, calls: list[Any], events: list[EventT]) -> None:
        for call in calls:
            if not isinstance(call, dict):
                continue
            index = call.get("index", 0)
            if not isinstance(index, int):
                index = 0
            if index in self._ignored:
                continue
            function = call.get("function") or {}
            tool = self._calls.get(index)
            if tool is None:
                if self._single and self._calls:
                    self._ignored.add(index)
                    self.anomalies.append(f"tool call #{index} dropped: {self._PARALLEL_OFF}")
                    continue
                call_id = call.get("id")
                if not isinstance(call_id, str) or not call_id:
                    call_id = self._generated_call_id(index)
                name = function.get("name")
                tool = self._new_call(call_id, name if isinstance(name, str) else "")
                self._calls[index] = tool
                self._held_text = ""  # no whitespace-only text beside a tool call
            elif not tool.name:
                name = function.get("name")
                if isinstance(name, str):
                    tool.name = name
            arguments = function.get("arguments")
            if isinstance(arguments, str) and arguments:
                if tool.closed:
                    self.anomalies.append(
                        f"tool call {tool.call_id}: fragment after its {self._OUTPUT_UNIT} "
                        "closed was dropped"
                    )
                    continue
                tool.args.append(arguments)
                if tool is self._open_call:
                    self._stream_arguments(tool, arguments, events)
                    continue
            if tool.output_index < 0:
                self._try_open(tool, events)

    def _try_open(self, tool: CallT, events: list[EventT]) -> None:
        """Open ``tool`` now unless another call's arguments are still incomplete."""
        if not tool.name:
            return  # the client's output needs its name; wait for it
        current = self._open_call
        if current is not None and not current.complete():
            return  # buffered; emitted whole when the output ends
        self._start_call(tool, events)

    def _close_all(self, events: list[EventT]) -> None:
        """At the finish: close the open output, then emit each buffered call whole."""
        cut = self._finish == "length"
        self._close_open(events, cut=cut)
        for _, tool in sorted(self._calls.items()):
            if tool.output_index < 0:
                if not tool.name:
                    self.anomalies.append(f"tool call {tool.call_id} dropped: it never had a name")
                    continue
                self._start_call(tool, events)
                self._close_open(events, cut=cut)
        self._held_text = ""
        self._held_reasoning = ""

    # ---------------------------------------------------------------------------- end

    def close(self, error: UpstreamError | ErrorT | None = None) -> list[EventT]:
        """Events that end the stream: the final events after a finish (the usage chunk never
        came), the surface's failure for ``error`` or for a stream that ended without
        finish_reason."""
        if self.finished:
            return []
        if error is None and self._finish is not None:
            events = self.start()
            self._end(events)
            return events
        return self._fail(error if error is not None else UpstreamError("closed"))
