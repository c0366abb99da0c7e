"""vLLM ``chat.completion.chunk`` stream -> OpenAI Responses SSE events (sans-IO).

The lifecycle (docs/conformance.md: the transcript of §7.3; cases 67, 68, 74-76, 80, 81)::

    response.created response.in_progress
    ( output_item.added  <item events>  output_item.done )*
    response.completed | response.incomplete | response.failed

with ``sequence_number`` 0, 1, 2 … and no ``[DONE]``. Output items, one open at a time, in
the order the model produced them, each with its own ``output_index``:

* reasoning (``delta.reasoning``/``reasoning_content``): ``reasoning_summary_part.added``,
  ``reasoning_summary_text.delta``*, ``.done``, ``reasoning_summary_part.done``; the done
  item carries ``encrypted_content`` (reasoning.py) when the client asked for it;
* message: ``content_part.added``, ``output_text.delta``*, ``output_text.done``,
  ``content_part.done``; nothing is opened for whitespace-only text (the "\\n\\n" models print
  before a tool call), so there is never an empty message;
* function call: ``function_call_arguments.delta``* (first-chunk arguments included) and
  ``.done``; ``output_item.done`` carries the complete arguments, which is what Codex runs;
  interleaved calls are buffered and emitted whole later (proxy/chatstream.py, which reads
  the chunks for every surface);
* custom tool call (a tool that went up as a function with one string parameter): emitted
  when complete, ``custom_tool_call_input.delta``/``.done`` with the unwrapped string;
* hosted web search (the function ``web_search`` the daemon runs): nothing while the model
  writes the call; the round then ends without ``response.completed`` (``round_pending``)
  and proxy/responses/hosted.py emits the ``web_search_call`` item with its events
  (``search_item``), the model's next round continuing the same response.

The items streamed are the very dicts ``response.completed`` lists (same ids, same text).
``finish_reason: "length"`` ends in ``response.incomplete`` (``max_output_tokens``); an
upstream failure after the start is ``response.failed`` with an ``error.code`` Codex knows.

``feed`` is the hot path: per text chunk a few dict lookups and one templated frame.
"""

from __future__ import annotations

import json
import time
from typing import Any

from autosred.proxy.chatstream import ChatStreamTranslator, ToolCall, assistant_round
from autosred.proxy.responses.errors import ResponsesError, map_upstream_error
from autosred.proxy.responses.events import DeltaTemplate, Event, event, lifecycle, new_id
from autosred.proxy.responses.reasoning import ReasoningSealer
from autosred.proxy.responses.request import CUSTOM_PARAMETER, ResponsesRequest, ToolTarget
from autosred.proxy.upstream import UpstreamError

_NONE, _MESSAGE, _REASONING, _CALL = 0, 1, 2, 3
_DEFERRED = 1 << 62
"""The ``output_index`` of a hosted call while the model writes it: taken (so the call is
not opened again), but its item only gets an index when the daemon runs it."""
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def search_arguments(arguments: str) -> dict[str, Any]:
    """The arguments of a ``tool_search_call`` (an object, not a string like a function
    call's): the model's JSON object, or a bare query it wrote as ``{"query": …}``."""
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict):
        return value
    query = value if isinstance(value, str) else arguments
    return {"query": query}


def unwrap_custom_input(arguments: str) -> str:
    """The raw input of a custom tool from the function arguments the model wrote.

    ``{"input": "…"}`` gives its string; a model that ignored the JSON wrapper and wrote the
    raw input itself (not a JSON object) gets it back verbatim.
    """
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError):
        return arguments
    if isinstance(value, dict):
        raw = value.get(CUSTOM_PARAMETER)
        if isinstance(raw, str):
            return raw
        strings = [item for item in value.values() if isinstance(item, str)]
        if len(strings) == 1:
            return strings[0]
        return arguments
    if isinstance(value, str):
        return value
    return arguments


class _Call(ToolCall):
    """A tool call with the output item it becomes."""

    __slots__ = ("delta", "item", "item_id", "target")

    def __init__(self, call_id: str, name: str) -> None:
        super().__init__(call_id, name)
        self.target: ToolTarget | None = None
        self.item_id = ""
        self.item: dict[str, Any] | None = None
        self.delta: DeltaTemplate | None = None


class ResponsesStreamTranslator(ChatStreamTranslator[Event, ResponsesError, _Call]):
    """Turns vLLM stream chunks into Responses events for one response."""

    _PARALLEL_OFF = "parallel_tool_calls is false"
    _OUTPUT_UNIT = "item"

    def __init__(
        self,
        *,
        model: str,
        sealer: ReasoningSealer,
        echo: dict[str, Any] | None = None,
        tools: dict[str, ToolTarget] | None = None,
        include_encrypted: bool = False,
        include_sources: bool = False,
        single_tool_call: bool = False,
        response_id: str | None = None,
        created_at: int | None = None,
    ) -> None:
        super().__init__(single_tool_call=single_tool_call)
        self.response_id = response_id or new_id("resp")
        self.model = model
        self.created_at = created_at if created_at is not None else int(time.time())
        self._echo = echo or {}
        self._sealer = sealer
        self._targets = tools or {}
        self._include_encrypted = include_encrypted
        self._include_sources = include_sources
        self._hosted = any(target.kind == "web_search" for target in self._targets.values())
        self.round_pending = False
        """The round ended on hosted calls: the response goes on once they ran, so
        ``response.completed`` waits (proxy/responses/hosted.py)."""
        self._client_items = 0
        self._round_text: list[str] = []
        self._round_reasoning: list[str] = []
        self.status = "in_progress"
        self.items: list[dict[str, Any]] = []
        """Output items as stored for ``previous_response_id`` (with encrypted_content)."""
        self.output: list[dict[str, Any]] = []
        """Output items as the client sees them, in output_index order."""
        self.usage: dict[str, Any] | None = None
        self._seq = 0
        self._next_index = 0
        self._open = _NONE
        self._message_id = ""
        self._message_index = -1
        self._text: list[str] = []
        self._text_delta: DeltaTemplate | None = None
        self._reasoning_id = ""
        self._reasoning_index = -1
        self._reasoning: list[str] = []
        self._reasoning_delta: DeltaTemplate | None = None
        self._reasoning_tokens = -1  # -1: not reported; _reasoning_deltas is the estimate
        self._reasoning_deltas = 0
        self._earlier_reasoning = 0  # reasoning tokens of the earlier hosted rounds

    @classmethod
    def for_request(
        cls,
        request: ResponsesRequest,
        *,
        sealer: ReasoningSealer,
        response_id: str | None = None,
    ) -> ResponsesStreamTranslator:
        return cls(
            model=request.client_model,
            sealer=sealer,
            echo=request.echo,
            tools=request.tools,
            include_encrypted=request.include_encrypted,
            include_sources=request.include_sources,
            single_tool_call=request.single_tool_call,
            response_id=response_id,
        )

    # ---------------------------------------------------------------------------- the object

    def response(self) -> dict[str, Any]:
        """The response object as it stands (the ``response`` of lifecycle events)."""
        echo = self._echo
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "background": False,
            "error": self.error.failure() if self.error is not None else None,
            "incomplete_details": (
                {"reason": _INCOMPLETE_REASONS.get(str(self._finish), "max_output_tokens")}
                if self.status == "incomplete"
                else None
            ),
            "instructions": echo.get("instructions"),
            "max_output_tokens": echo.get("max_output_tokens"),
            "model": self.model,
            "output": list(self.output),
            "parallel_tool_calls": echo.get("parallel_tool_calls", True),
            "previous_response_id": echo.get("previous_response_id"),
            "reasoning": echo.get("reasoning", {"effort": None, "summary": None}),
            "store": echo.get("store", True),
            "temperature": echo.get("temperature", 1.0),
            "text": echo.get("text", {"format": {"type": "text"}}),
            "tool_choice": echo.get("tool_choice", "auto"),
            "tools": echo.get("tools", []),
            "top_p": echo.get("top_p", 1.0),
            "truncation": echo.get("truncation", "disabled"),
            "usage": self.usage,
            "user": echo.get("user"),
            "metadata": echo.get("metadata", {}),
        }

    # ---------------------------------------------------------------------------- start

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = seq + 1
        return seq

    def start(self) -> list[Event]:
        """``response.created`` and ``response.in_progress``, once."""
        if self.started:
            return []
        self.started = True
        seq = self._seq
        self._seq = seq + 2
        return lifecycle(("response.created", "response.in_progress"), seq, self.response())

    def keepalive(self) -> list[Event]:
        """While waiting for the model (long prefill): the start, then ``in_progress`` again,
        so a client's idle timeout sees events (comments are invisible to SSE parsers)."""
        if self.finished and not self.round_pending:
            return []
        if not self.started:
            return self.start()
        return [event("response.in_progress", self._next_seq(), response=self.response())]

    # ---------------------------------------------------------------------------- usage

    def _take_usage(self, usage: dict[str, Any]) -> None:
        super()._take_usage(usage)
        if isinstance(usage.get("completion_tokens"), int):
            details = usage.get("completion_tokens_details")
            if isinstance(details, dict) and isinstance(details.get("reasoning_tokens"), int):
                self._reasoning_tokens = details["reasoning_tokens"]

    # ---------------------------------------------------------------------------- items

    def _add_item(self, item: dict[str, Any], events: list[Event]) -> int:
        index = self._next_index
        self._next_index = index + 1
        events.append(
            event("response.output_item.added", self._next_seq(), output_index=index, item=item)
        )
        return index

    def _done_item(
        self, index: int, item: dict[str, Any], events: list[Event], stored: dict[str, Any] | None
    ) -> None:
        self.output.append(item)
        self.items.append(stored if stored is not None else item)
        events.append(
            event("response.output_item.done", self._next_seq(), output_index=index, item=item)
        )

    def _close_open(self, events: list[Event], *, cut: bool = False) -> None:
        """Close the open item; ``cut``: the output ended at max_output_tokens inside it."""
        kind = self._open
        if kind == _NONE:
            return
        self._open = _NONE
        if kind == _MESSAGE:
            self._close_message(events, cut)
        elif kind == _REASONING:
            self._close_reasoning(events, cut)
        else:
            call = self._open_call
            self._open_call = None
            if call is not None:
                self._close_call(call, events, cut)

    # -- message

    def _on_text(self, text: str, events: list[Event]) -> None:
        if self._hosted:
            self._round_text.append(text)
        if self._open == _MESSAGE:
            self._text.append(text)
            assert self._text_delta is not None
            events.append(self._text_delta(self._next_seq(), text))
            return
        opening = self._opening_text(text, events)
        if opening is None:
            return
        item_id = self._message_id = new_id("msg")
        index = self._message_index = self._add_item(
            {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "content": [],
                "role": "assistant",
            },
            events,
        )
        events.append(
            event(
                "response.content_part.added",
                self._next_seq(),
                item_id=item_id,
                output_index=index,
                content_index=0,
                part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
            )
        )
        self._open = _MESSAGE
        self._text = [opening]
        delta = self._text_delta = DeltaTemplate(
            "response.output_text.delta",
            "delta",
            item_id=item_id,
            output_index=index,
            content_index=0,
        )
        events.append(delta(self._next_seq(), opening))

    def _close_message(self, events: list[Event], cut: bool) -> None:
        text = "".join(self._text)
        self._text = []
        item_id = self._message_id
        index = self._message_index
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        events.append(
            event(
                "response.output_text.done",
                self._next_seq(),
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
        )
        events.append(
            event(
                "response.content_part.done",
                self._next_seq(),
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=part,
            )
        )
        item = {
            "id": item_id,
            "type": "message",
            "status": "incomplete" if cut else "completed",
            "content": [part],
            "role": "assistant",
        }
        self._done_item(index, item, events, None)

    # -- reasoning

    def _on_reasoning(self, text: str, events: list[Event]) -> None:
        if self._hosted:
            self._round_reasoning.append(text)
        self._reasoning_deltas += 1
        if self._open == _REASONING:
            self._reasoning.append(text)
            assert self._reasoning_delta is not None
            events.append(self._reasoning_delta(self._next_seq(), text))
            return
        opening = self._opening_reasoning(text, events)
        if opening is None:
            return
        item_id = self._reasoning_id = new_id("rs")
        index = self._reasoning_index = self._add_item(
            {"id": item_id, "type": "reasoning", "summary": []}, events
        )
        events.append(
            event(
                "response.reasoning_summary_part.added",
                self._next_seq(),
                item_id=item_id,
                output_index=index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        )
        self._open = _REASONING
        self._reasoning = [opening]
        delta = self._reasoning_delta = DeltaTemplate(
            "response.reasoning_summary_text.delta",
            "delta",
            item_id=item_id,
            output_index=index,
            summary_index=0,
        )
        events.append(delta(self._next_seq(), opening))

    def _close_reasoning(self, events: list[Event], cut: bool) -> None:
        text = "".join(self._reasoning)
        self._reasoning = []
        item_id = self._reasoning_id
        index = self._reasoning_index
        part = {"type": "summary_text", "text": text}
        events.append(
            event(
                "response.reasoning_summary_text.done",
                self._next_seq(),
                item_id=item_id,
                output_index=index,
                summary_index=0,
                text=text,
            )
        )
        events.append(
            event(
                "response.reasoning_summary_part.done",
                self._next_seq(),
                item_id=item_id,
                output_index=index,
                summary_index=0,
                part=part,
            )
        )
        stored = {
            "id": item_id,
            "type": "reasoning",
            "summary": [part],
            "encrypted_content": self._sealer.seal(text),
        }
        if cut:
            stored["status"] = "incomplete"
        if self._include_encrypted:
            item = stored
        else:
            item = {key: value for key, value in stored.items() if key != "encrypted_content"}
        self._done_item(index, item, events, stored)

    # -- tool calls

    def _new_call(self, call_id: str, name: str) -> _Call:
        return _Call(call_id, name)

    def _generated_call_id(self, index: int) -> str:
        return f"call_{self.response_id.removeprefix('resp_')}_{index}"

    def _stream_arguments(self, call: _Call, fragment: str, events: list[Event]) -> None:
        delta = call.delta
        if delta is not None:  # a custom tool's input is sent whole when it closes
            seq = self._seq  # _next_seq() inlined: this runs per argument fragment
            self._seq = seq + 1
            events.append(delta(seq, fragment))

    def _start_call(self, tool: _Call, events: list[Event]) -> None:
        self._close_open(events)
        target = tool.target = self._targets.get(tool.name)
        if target is not None and target.kind == "web_search":
            tool.output_index = _DEFERRED  # its item comes when the daemon runs it
            self._open = _CALL
            self._open_call = tool
            return
        self._client_items += 1
        if target is not None and target.kind == "tool_search":
            # Codex runs the search itself and answers with a tool_search_output.
            tool.item_id = new_id("ts")
            item: dict[str, Any] = {
                "id": tool.item_id,
                "type": "tool_search_call",
                "status": "in_progress",
                "call_id": tool.call_id,
                "execution": "client",
                "arguments": {},
            }
        elif target is not None and target.kind == "custom":
            tool.item_id = new_id("ctc")
            item = {
                "id": tool.item_id,
                "type": "custom_tool_call",
                "status": "in_progress",
                "call_id": tool.call_id,
                "name": target.name,
                "input": "",
            }
        else:
            tool.item_id = new_id("fc")
            item = {
                "id": tool.item_id,
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": tool.call_id,
                "name": target.name if target is not None else tool.name,
            }
            if target is not None and target.namespace:
                item["namespace"] = target.namespace
        tool.item = item
        tool.output_index = self._add_item(item, events)
        if item["type"] == "function_call":
            tool.delta = DeltaTemplate(
                "response.function_call_arguments.delta",
                "delta",
                item_id=tool.item_id,
                output_index=tool.output_index,
            )
        self._open = _CALL
        self._open_call = tool
        if tool.args and tool.delta is not None:
            # First-chunk arguments (and buffered ones) are sent, never dropped.
            events.append(tool.delta(self._next_seq(), "".join(tool.args)))

    def _close_call(self, tool: _Call, events: list[Event], cut: bool) -> None:
        tool.closed = True
        if tool.item is None:
            return  # a hosted call: nothing was sent for it

        arguments = "".join(tool.args)
        item = dict(tool.item)
        item["status"] = "incomplete" if cut else "completed"
        index = tool.output_index
        if item["type"] == "custom_tool_call":
            raw = unwrap_custom_input(arguments)
            item["input"] = raw
            events.append(
                event(
                    "response.custom_tool_call_input.delta",
                    self._next_seq(),
                    item_id=tool.item_id,
                    output_index=index,
                    delta=raw,
                )
            )
            events.append(
                event(
                    "response.custom_tool_call_input.done",
                    self._next_seq(),
                    item_id=tool.item_id,
                    output_index=index,
                    input=raw,
                )
            )
        elif item["type"] == "tool_search_call":
            item["arguments"] = search_arguments(arguments)
        else:
            item["arguments"] = arguments
            events.append(
                event(
                    "response.function_call_arguments.done",
                    self._next_seq(),
                    item_id=tool.item_id,
                    output_index=index,
                    arguments=arguments,
                )
            )
        self._done_item(index, item, events, None)

    # ---------------------------------------------------------------------------- end

    def _usage(self) -> dict[str, Any]:
        prompt, cached, output = self._usage_totals()
        reasoning = self._earlier_reasoning + (
            self._reasoning_tokens if self._reasoning_tokens >= 0 else self._reasoning_deltas
        )
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": min(cached, prompt)},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": min(reasoning, output)},
            "total_tokens": prompt + output,
        }

    def _end(self, events: list[Event]) -> None:
        self._close_all(events)  # output after finish_reason (never from vLLM) still closes
        if self._hosted and self._finish != "length" and self.hosted_calls():
            # The daemon runs the searches and the model goes on in this same response.
            self.round_pending = True
            self.finished = True
            return
        self._conclude(events)

    def _conclude(self, events: list[Event]) -> None:
        self.round_pending = False
        self.usage = self._usage()
        finish = self._finish
        if finish in _INCOMPLETE_REASONS:
            self.status = "incomplete"
            kind = "response.incomplete"
        else:
            self.status = "completed"
            kind = "response.completed"
        events.append(event(kind, self._next_seq(), response=self.response()))
        self.finished = True

    # ---------------------------------------------------------------------------- hosted rounds

    def hosted_calls(self) -> list[_Call]:
        """This round's calls of the hosted web search, in the model's order."""
        return [
            call
            for call in self.round_calls()
            if call.output_index >= 0 and call.target is not None
            if call.target.kind == "web_search"
        ]

    def client_calls(self) -> int:
        """Tool call items of this response the client runs (function, custom, tool search)."""
        return self._client_items

    def round_message(self) -> dict[str, Any]:
        """This round as the assistant message the model wrote (for the next round)."""
        return assistant_round(self._round_text, self._round_reasoning, self.round_calls())

    def search_item(self, query: str | None) -> tuple[str, int, list[Event]]:
        """Open a ``web_search_call`` item (the daemon is about to search): its id, its
        ``output_index`` and the events ``output_item.added``, ``.in_progress``,
        ``.searching``."""
        events: list[Event] = []
        item_id = new_id("ws")
        action: dict[str, Any] = {"type": "search", "query": query}
        added = {
            "id": item_id,
            "type": "web_search_call",
            "status": "in_progress",
            "action": action,
        }
        index = self._add_item(added, events)
        for phase in ("in_progress", "searching"):
            events.append(
                event(
                    f"response.web_search_call.{phase}",
                    self._next_seq(),
                    output_index=index,
                    item_id=item_id,
                )
            )
        return item_id, index, events

    def search_done(
        self, item_id: str, index: int, query: str | None, sources: list[str] | None
    ) -> list[Event]:
        """Close the ``web_search_call`` item: ``.completed`` and ``output_item.done`` with
        the query (and its sources when ``include`` asked for them); ``sources`` None: the
        search failed (status ``failed``, no ``.completed``)."""
        events: list[Event] = []
        action: dict[str, Any] = {"type": "search", "query": query}
        if sources is not None and self._include_sources:
            action["sources"] = [{"type": "url", "url": url} for url in sources]
        status = "completed" if sources is not None else "failed"
        if sources is not None:
            events.append(
                event(
                    "response.web_search_call.completed",
                    self._next_seq(),
                    output_index=index,
                    item_id=item_id,
                )
            )
        item = {"id": item_id, "type": "web_search_call", "status": status, "action": action}
        self._done_item(index, item, events, None)
        return events

    def next_round(self) -> None:
        self._earlier_reasoning += (
            self._reasoning_tokens if self._reasoning_tokens >= 0 else self._reasoning_deltas
        )
        super().next_round()
        self.round_pending = False
        self._round_text = []
        self._round_reasoning = []
        self._reasoning_tokens = -1
        self._reasoning_deltas = 0

    def conclude(self) -> list[Event]:
        """End the response after the hosted calls ran (``response.completed``)."""
        events: list[Event] = []
        self._conclude(events)
        return events

    def _map_error(self, error: UpstreamError) -> ResponsesError:
        return map_upstream_error(error)

    def _failure_events(self, error: ResponsesError) -> list[Event]:
        events = self.start()
        self.status = "failed"
        events.append(event("response.failed", self._next_seq(), response=self.response()))
        return events

    def complete_empty(self) -> list[Event]:
        """The whole lifecycle of a response with no output (Codex's empty-input probe, case
        82), answered without the model."""
        if self.finished:
            return []
        events = self.start()
        self._finish = "stop"
        self._end(events)
        return events
