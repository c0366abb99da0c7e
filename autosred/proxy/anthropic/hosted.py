"""Anthropic's hosted web tools run by the daemon: the rounds of one ``/v1/messages`` answer.

When the model calls a hosted tool (``web_search``, ``web_fetch``), the translator has already
streamed a ``server_tool_use`` block for the call (stream.py) and holds the message open. The
request flow then asks ``HostedMessages.step``: it runs the calls (proxy/hosted/executor.py),
answers each with its result block, exactly as Anthropic streams them::

    web_search_tool_result  {tool_use_id, content: [{type: web_search_result, url, title,
                             page_age, encrypted_content}] | {type: web_search_tool_result_error,
                             error_code}}
    web_fetch_tool_result   {tool_use_id, content: {type: web_fetch_result, url, retrieved_at,
                             content: {type: document, source: {type: text, media_type:
                             text/plain, data}, title}} | {type: web_fetch_tool_result_error,
                             error_code}}

and gives the next upstream body: the conversation plus the round as the model wrote it
(assistant message with the tool calls) and one tool message per result, which is also what
the history the client sends back is translated into (history.py). The message ends after a
round when the model called a client tool too (stop_reason ``tool_use``), or after
``MAX_ROUNDS`` rounds with ``pause_turn`` (the client sends the message back to go on, as
with Anthropic's own server-side loop). Once a tool's ``max_uses`` are spent it is no longer
offered; a call of it anyway is answered ``max_uses_exceeded``.
"""

from __future__ import annotations

from typing import Any

from autosred.proxy.anthropic.events import Event
from autosred.proxy.anthropic.stream import MessageStreamTranslator
from autosred.proxy.anthropic.toolids import server_tool_id
from autosred.proxy.hosted.executor import (
    FetchDone,
    HostedRun,
    SearchDone,
    ToolFailed,
    ToolResult,
    failure_text,
    fetch_text,
    search_text,
)
from autosred.proxy.hosted.seal import ContentSealer

MAX_ROUNDS = 10
"""Model calls per message; the last round's message ends with ``pause_turn``."""


def result_block(
    kind: str, tool_use_id: str, result: ToolResult, sealer: ContentSealer
) -> dict[str, Any]:
    """The ``*_tool_result`` content block for ``result``."""
    block_type = f"{kind}_tool_result"
    content: Any
    if isinstance(result, ToolFailed):
        error_type = (
            "web_search_tool_result_error"
            if kind == "web_search"
            else "web_fetch_tool_result_error"
        )
        content = {"type": error_type, "error_code": result.code}
    elif isinstance(result, SearchDone):
        content = [
            {
                "type": "web_search_result",
                "url": hit.url,
                "title": hit.title,
                "page_age": hit.page_age,
                "encrypted_content": sealer.seal(hit.snippet, bound_to=hit.url),
            }
            for hit in result.hits
        ]
    else:
        content = {
            "type": "web_fetch_result",
            "url": result.page.url,
            "retrieved_at": result.retrieved_at,
            "content": {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": result.text},
                "title": result.page.title,
            },
        }
    return {"type": block_type, "tool_use_id": tool_use_id, "content": content}


def model_text(result: ToolResult) -> str:
    """What the model reads for ``result`` (history.py rebuilds the same from the block)."""
    if isinstance(result, ToolFailed):
        return failure_text(result.code)
    if isinstance(result, SearchDone):
        return search_text(result.query, ((hit, hit.snippet) for hit in result.hits))
    assert isinstance(result, FetchDone)
    return fetch_text(result.page.url, result.page.title, result.text)


class HostedMessages:
    """The hosted rounds of one ``/v1/messages`` answer (see the module's docstring)."""

    def __init__(
        self,
        *,
        run: HostedRun,
        translator: MessageStreamTranslator,
        body: dict[str, Any],
        sealer: ContentSealer,
    ) -> None:
        self._run = run
        self._translator = translator
        self._body = body
        self._sealer = sealer
        self._rounds = 1
        translator.server_tool_use = self._usage()

    def _usage(self) -> dict[str, int]:
        return {
            "web_search_requests": self._run.requests["web_search"],
            "web_fetch_requests": self._run.requests["web_fetch"],
        }

    def pending(self) -> bool:
        """Whether the model's last round ended on hosted calls the daemon has to run."""
        return self._translator.round_pending

    async def step(self) -> tuple[list[Event], dict[str, Any] | None]:
        """Run the pending calls: (their result events, the next upstream body), or (the
        result events and the message's end, None) when the message ends here."""
        translator = self._translator
        events: list[Event] = []
        answers: list[dict[str, Any]] = []
        for call in translator.hosted_calls():
            result = await self._run.execute(call.name, "".join(call.args))
            kind = self._run.tools[call.name].kind
            block = result_block(kind, server_tool_id(call.call_id), result, self._sealer)
            events += translator.add_block(block)
            answers.append(
                {"role": "tool", "tool_call_id": call.call_id, "content": model_text(result)}
            )
        translator.server_tool_use = self._usage()
        if translator.client_calls():
            events += translator.conclude()  # the client has its own tools to run first
            return events, None
        if self._rounds >= MAX_ROUNDS:
            events += translator.conclude("pause_turn")
            return events, None
        self._rounds += 1
        messages = [*self._body["messages"], translator.round_message(), *answers]
        translator.next_round()
        self._body = self._next_body(messages)
        return events, self._body

    def _next_body(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        body = {**self._body, "messages": messages}
        spent = {name for name in self._run.tools if self._run.budget(name) == 0}
        tools = [t for t in body.get("tools", ()) if t["function"]["name"] not in spent]
        if tools:
            body["tools"] = tools
            # A forced tool was called once; the model now answers with what it found.
            body["tool_choice"] = "auto"
        else:
            body.pop("tools", None)
            body.pop("tool_choice", None)
            body.pop("parallel_tool_calls", None)
        # After tool results the model starts a new assistant turn, never continues one.
        body.pop("continue_final_message", None)
        body.pop("add_generation_prompt", None)
        return body
