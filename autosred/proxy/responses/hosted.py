"""Codex's hosted ``web_search`` run by the daemon: the rounds of one ``/v1/responses`` answer.

The model is offered the function ``web_search {query}`` (request.py). When a round ends on
calls of it, the translator holds the response open (stream.py, ``round_pending``) and the
request flow asks ``HostedResponses.step``: it runs the searches through the shared executor
(proxy/hosted/executor.py: ``max_uses`` caps, domain filters, the search limit, metrics),
the client getting ``response.in_progress`` keep-alives meanwhile, then gives each call its
``web_search_call`` item, as OpenAI streams it::

    response.output_item.added            {item: {id: "ws_…", type: web_search_call,
                                            status: in_progress, action: {type: search, query}}}
    response.web_search_call.in_progress  {item_id, output_index}
    response.web_search_call.searching    {item_id, output_index}
    response.web_search_call.completed    {item_id, output_index}     (not when it failed)
    response.output_item.done             {item: {…, status: completed | failed,
                                            action: {type: search, query, sources?}}}

then gives the next upstream body: the conversation plus the round as the model wrote it and
one tool message per search with the results (title, URL, snippet), which the daemon also
keeps by the item's id (proxy/hosted/memory.py) for when the item comes back in the history
(history.py). The response ends after a round when the model called a client tool too (the
client runs it); the last of ``MAX_ROUNDS`` rounds is not offered the search, so the model
answers with what it found. A call past ``max_uses`` is answered ``max_uses_exceeded`` in
its tool message (status ``failed``).
"""

from __future__ import annotations

from typing import Any

from autosred.proxy.hosted.executor import (
    HostedRun,
    SearchDone,
    ToolFailed,
    failure_text,
    search_text,
)
from autosred.proxy.hosted.memory import RememberedResult, SearchMemory
from autosred.proxy.responses.events import Event
from autosred.proxy.responses.stream import ResponsesStreamTranslator, search_arguments

MAX_ROUNDS = 10
"""Model calls per response; after the last the response completes with what it has."""


def _query(arguments: str) -> str | None:
    query = search_arguments(arguments).get("query")
    return query.strip() if isinstance(query, str) and query.strip() else None


class HostedResponses:
    """The hosted rounds of one ``/v1/responses`` answer (see the module's docstring)."""

    def __init__(
        self,
        *,
        run: HostedRun,
        translator: ResponsesStreamTranslator,
        body: dict[str, Any],
        memory: SearchMemory,
    ) -> None:
        self._run = run
        self._translator = translator
        self._body = body
        self._memory = memory
        self._rounds = 1

    def pending(self) -> bool:
        """Whether the model's last round ended on searches the daemon has to run."""
        return self._translator.round_pending

    async def step(self) -> tuple[list[Event], dict[str, Any] | None]:
        """Run the pending searches: (their items' events, the next upstream body), or (the
        events and the response's end, None) when the response ends here."""
        translator = self._translator
        calls = translator.hosted_calls()
        # Every search runs before any event is made: the flow sends keep-alives (numbered
        # events) while this runs, so an event numbered earlier would go out after them.
        results = [await self._run.execute(call.name, "".join(call.args)) for call in calls]
        events: list[Event] = []
        answers: list[dict[str, Any]] = []
        for call, result in zip(calls, results, strict=True):
            arguments = "".join(call.args)
            query = _query(arguments)
            item_id, index, opened = translator.search_item(query)
            events += opened
            if isinstance(result, SearchDone):
                text = search_text(result.query, ((hit, hit.snippet) for hit in result.hits))
                sources: list[str] | None = [hit.url for hit in result.hits]
            else:
                assert isinstance(result, ToolFailed)  # web_search never fetches
                text, sources = failure_text(result.code), None
            events += translator.search_done(item_id, index, query, sources)
            self._memory.keep_result(item_id, RememberedResult(call.call_id, arguments, text))
            answers.append({"role": "tool", "tool_call_id": call.call_id, "content": text})
        if translator.client_calls() or self._rounds >= MAX_ROUNDS:
            events += translator.conclude()  # the client has its own tools to run first
            return events, None
        self._rounds += 1
        messages = [*self._body["messages"], translator.round_message(), *answers]
        translator.next_round()
        self._body = self._next_body(messages)
        return events, self._body

    def _next_body(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        body = {**self._body, "messages": messages}
        last = self._rounds >= MAX_ROUNDS
        spent = {name for name in self._run.tools if last or self._run.budget(name) == 0}
        tools = [t for t in body.get("tools", ()) if t["function"]["name"] not in spent]
        if tools:
            body["tools"] = tools
            # A forced search was made once; the model now answers with what it found.
            body["tool_choice"] = "auto"
        else:
            body.pop("tools", None)
            body.pop("tool_choice", None)
            body.pop("parallel_tool_calls", None)
        return body
