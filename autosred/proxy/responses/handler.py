"""POST /v1/responses: the Responses surface (api and codex listeners).

Served by the request flow (proxy/flow.py) through ``ResponsesSurface``, the surface's
adapter: the body (and the stored conversation ``previous_response_id`` names) translated to a
chat request, a ``ResponsesStreamTranslator`` for the answer, errors in the OpenAI envelope
before the first byte and ``response.failed`` after it (docs/conformance.md, case 80). A
completed response is kept for follow-ups (case 79) by an observer of the request's outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from autosred.proxy.body import BadRequest, required_model
from autosred.proxy.context import PROXY
from autosred.proxy.exchange import Exchange
from autosred.proxy.flow import Failure, Surface, TranslatedCall, serve
from autosred.proxy.hosted.executor import HostedRun
from autosred.proxy.hosted.memory import SearchMemory
from autosred.proxy.hosted.tools import HostedKind, HostedTools
from autosred.proxy.modelview import model_view
from autosred.proxy.openai.errors import OpenAIError, request_error
from autosred.proxy.outcome import Outcome
from autosred.proxy.responses.errors import (
    PREVIOUS_RESPONSE_NOT_FOUND,
    ResponsesError,
    map_upstream_error,
)
from autosred.proxy.responses.events import Event, encode_events
from autosred.proxy.responses.hosted import HostedResponses
from autosred.proxy.responses.reasoning import ReasoningSealer
from autosred.proxy.responses.request import ResponsesRequest, serialise, to_chat_request
from autosred.proxy.responses.store import ResponseStore
from autosred.proxy.responses.stream import ResponsesStreamTranslator
from autosred.recipes import Recipe, request_priority
from autosred.scaler import ModelUnavailable, UnknownModel


def _history(store: ResponseStore, body: dict[str, Any]) -> tuple[list[Any] | None, int]:
    """The stored conversation ``previous_response_id`` names, and its size (case 79)."""
    previous = body.get("previous_response_id")
    if previous is None:
        return None, 0
    if not isinstance(previous, str):
        raise ResponsesError.invalid(
            "previous_response_id: Input should be a valid string", param="previous_response_id"
        )
    entry = store.get(previous)
    if entry is None:
        raise ResponsesError(
            400,
            f"Previous response with id '{previous}' not found.",
            "invalid_request_error",
            code=PREVIOUS_RESPONSE_NOT_FOUND,
            param="previous_response_id",
        )
    return list(entry.items), entry.size


@dataclass(frozen=True)
class ResponsesSurface(Surface[TranslatedCall[Event]]):
    """The Responses surface's adapter to the request flow, and its own dependencies."""

    sealer: ReasoningSealer
    store: ResponseStore = field(default_factory=ResponseStore)
    hosted_tools: HostedTools | None = None
    """The hosted tools the daemon runs (``web_search``); None: skipped like other hosted
    tools."""
    memory: SearchMemory = field(default_factory=SearchMemory)
    """The hosted searches' results, for replayed ``web_search_call`` items and offline
    searches."""
    api: str = "responses"

    @property
    def hosted_kinds(self) -> frozenset[HostedKind]:
        return self.hosted_tools.kinds if self.hosted_tools is not None else frozenset()

    def model_of(self, body: dict[str, Any]) -> str:
        return required_model(body)

    def error(self, failure: Failure, call: TranslatedCall[Event] | None = None) -> OpenAIError:
        if isinstance(failure, BadRequest | UnknownModel):
            return request_error(failure)
        if isinstance(failure, ModelUnavailable):
            return ResponsesError.unavailable(failure)
        return map_upstream_error(failure)

    def prepare(
        self,
        request: web.Request,
        body: dict[str, Any],
        raw: bytes,
        recipe: Recipe,
        exchange: Exchange,
    ) -> TranslatedCall[Event]:
        history, history_size = _history(self.store, body)
        chat = to_chat_request(
            body,
            view=model_view(recipe),
            sealer=self.sealer,
            history=history,
            hosted=self.hosted_kinds,
            memory=self.memory,
        )
        if chat.skipped_tools:
            request.app[PROXY].log.debug(
                "responses.tools_skipped",
                extra={
                    "fields": {
                        "request_id": exchange.request_id,
                        "types": ",".join(chat.skipped_tools),
                    }
                },
            )
        translator = ResponsesStreamTranslator.for_request(chat, sealer=self.sealer)
        rounds = None
        hosted = self.hosted_tools
        if chat.hosted and hosted is not None and not chat.probe:
            ctx = request.app[PROXY]
            run = HostedRun(
                chat.hosted,
                hosted.web,
                log=ctx.log,
                caps=hosted.caps,
                request_id=exchange.request_id,
                metrics=ctx.metrics,
                surface="responses",
                client=exchange.client,
                memory=self.memory,
            )
            rounds = HostedResponses(
                run=run, translator=translator, body=chat.body, memory=self.memory
            )
        local = None
        if chat.probe:
            # Nothing to ask the model (Codex's empty-input probe): answered here, no wake.
            local = translator.complete_empty()
        elif chat.store:
            store, input_size = self.store, history_size + len(raw)

            def remember(outcome: Outcome) -> None:
                if translator.status in ("completed", "incomplete"):
                    _remember(store, chat, translator, input_size)

            exchange.observe(remember)
        return TranslatedCall(
            stream=chat.stream,
            body=chat.body,
            wire=serialise(chat),
            max_tokens=chat.max_output_tokens,
            priority=request_priority(
                recipe.priority,
                model=self.model_of(body),
                headers=request.headers,
                client=exchange.client,
            ),
            translator=translator,
            encode=encode_events,
            answer=lambda events: web.json_response(translator.response()),
            local_events=local,
            rounds=rounds,
        )


SURFACE: web.AppKey[ResponsesSurface] = web.AppKey("responses", ResponsesSurface)


def add_routes(
    app: web.Application,
    *,
    sealer: ReasoningSealer,
    store: ResponseStore | None = None,
    hosted_tools: HostedTools | None = None,
) -> None:
    """``hosted_tools``: run the hosted ``web_search`` (its other kinds are not Codex's)."""
    app[SURFACE] = ResponsesSurface(
        sealer=sealer, store=store or ResponseStore(), hosted_tools=hosted_tools
    )
    app.router.add_post("/v1/responses", create_response)


async def create_response(request: web.Request) -> web.StreamResponse:
    surface = request.app[SURFACE]
    return await serve(request, surface)


def _remember(
    store: ResponseStore,
    chat: ResponsesRequest,
    translator: ResponsesStreamTranslator,
    input_size: int,
) -> None:
    output_size = len(json.dumps(translator.items, ensure_ascii=False))
    store.put(
        translator.response_id, [*chat.conversation, *translator.items], input_size + output_size
    )
