"""POST /v1/responses: the Responses surface's HTTP handler (api and codex listeners).

Every request reaches the model server through ``gate.lease``, which wakes it and counts the
request as in flight until its last byte. A streaming request held by a wake gets its 200 and
``: waking …`` comments; a wake that then fails ends the stream with ``response.failed``.
Errors before the first byte are HTTP errors in the OpenAI envelope (docs/conformance.md, case 80).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from autosred.proxy.body import BadRequest, read_json_object, required_model
from autosred.proxy.context import CLIENT_NAME_KEY, PROXY, ProxyContext, request_id
from autosred.proxy.exchange import Exchange
from autosred.proxy.modelview import model_view
from autosred.proxy.openai.errors import request_error
from autosred.proxy.responses.errors import PREVIOUS_RESPONSE_NOT_FOUND, ResponsesError
from autosred.proxy.responses.events import Event, encode_events
from autosred.proxy.responses.reasoning import ReasoningSealer
from autosred.proxy.responses.relay import EarlyFailure, ResponseRelay
from autosred.proxy.responses.request import ResponsesRequest, to_chat_request
from autosred.proxy.responses.store import ResponseStore
from autosred.proxy.responses.stream import ResponsesStreamTranslator
from autosred.proxy.sse import EventStream, open_event_stream
from autosred.recipes import Recipe, request_priority
from autosred.scaler import ModelUnavailable, UnknownModel


@dataclass(frozen=True)
class Surface:
    """The Responses surface's own dependencies (the shared ones are in ProxyContext)."""

    sealer: ReasoningSealer
    store: ResponseStore
    keepalive_interval: float
    """Seconds without an upstream byte, before the first token, between lifecycle events."""


SURFACE: web.AppKey[Surface] = web.AppKey("responses", Surface)


def add_routes(
    app: web.Application,
    *,
    sealer: ReasoningSealer,
    keepalive_interval: float,
    store: ResponseStore | None = None,
) -> None:
    app[SURFACE] = Surface(
        sealer=sealer, store=store or ResponseStore(), keepalive_interval=keepalive_interval
    )
    app.router.add_post("/v1/responses", create_response)


def _history(store: ResponseStore, body: dict[str, Any]) -> tuple[list[Any] | None, int]:
    """The stored conversation ``previous_response_id`` names, and its size
    (docs/conformance.md, case 79)."""
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


async def create_response(request: web.Request) -> web.StreamResponse:
    ctx = request.app[PROXY]
    surface = request.app[SURFACE]
    rid = request_id(request)
    client = request.get(CLIENT_NAME_KEY, "-")
    exchange = Exchange(metrics=ctx.metrics, api="responses", client=client)
    try:
        body, raw = await read_json_object(request)
        requested = required_model(body)
        recipe = ctx.gate.resolve(requested)
        exchange.model = recipe.name
        history, history_size = _history(surface.store, body)
        chat = to_chat_request(
            body, view=model_view(recipe), sealer=surface.sealer, history=history
        )
    except (BadRequest, UnknownModel) as exc:
        refusal = request_error(exc)
        exchange.finish(refusal.status)
        return refusal
    except ResponsesError as exc:
        exchange.finish(exc.status)
        return exc.response()
    if chat.skipped_tools:
        ctx.log.debug(
            "responses.tools_skipped",
            extra={"fields": {"request_id": rid, "types": ",".join(chat.skipped_tools)}},
        )
    translator = ResponsesStreamTranslator.for_request(chat, sealer=surface.sealer)
    if chat.probe:
        # Nothing to ask the model (Codex's empty-input probe): answered here, no wake.
        exchange.finish(200)
        return await _answer_locally(request, chat, translator)
    relay = ResponseRelay(
        request=chat,
        ctx=ctx,
        request_id=rid,
        priority=request_priority(
            recipe.priority, model=requested, headers=request.headers, client=client
        ),
        keepalive_interval=surface.keepalive_interval if chat.stream else None,
    )
    status: int | str = "aborted"
    try:
        if chat.stream:
            reply, status = await _stream(
                request,
                ctx=ctx,
                recipe=recipe,
                relay=relay,
                translator=translator,
                exchange=exchange,
            )
        else:
            reply, status = await _complete(ctx, recipe, relay, translator)
        return reply
    except ConnectionError:
        # The client hung up mid-write (handler cancellation covers the rest): the upstream
        # request is already closed; there is nobody left to answer.
        ctx.log.info("responses.client_gone", extra={"fields": {"request_id": rid}})
        raise
    finally:
        exchange.finish(status)
        if translator.usage:
            exchange.count_tokens(
                input_tokens=translator.usage["input_tokens"],
                output_tokens=translator.usage["output_tokens"],
            )
        for anomaly in translator.anomalies:
            ctx.log.warning(
                "responses.stream_anomaly",
                extra={"fields": {"request_id": rid, "model": recipe.name, "anomaly": anomaly}},
            )
        if chat.store and translator.status in ("completed", "incomplete"):
            _remember(surface.store, chat, translator, history_size + len(raw))


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


async def _answer_locally(
    request: web.Request, chat: ResponsesRequest, translator: ResponsesStreamTranslator
) -> web.StreamResponse:
    events = translator.complete_empty()
    if not chat.stream:
        return web.json_response(translator.response())
    response = web.StreamResponse(status=200)
    await open_event_stream(request, response)
    await response.write(encode_events(events))
    await response.write_eof()
    return response


def _unavailable(exc: ModelUnavailable) -> ResponsesError:
    """A lease that could not be granted (hold cap, failed wake, shutdown): 503 with the
    gate's ETA as Retry-After, which Codex honours."""
    return ResponsesError(
        503,
        exc.reason,
        "service_unavailable",
        code=exc.kind,
        retry_after=max(1, math.ceil(exc.retry_after)),
    )


async def _stream(
    request: web.Request,
    *,
    ctx: ProxyContext,
    recipe: Recipe,
    relay: ResponseRelay,
    translator: ResponsesStreamTranslator,
    exchange: Exchange,
) -> tuple[web.StreamResponse, int | str]:
    stream = EventStream(request, exchange, encode_events)
    response = stream.response
    try:
        async with ctx.gate.lease(recipe.name, on_wait=stream.waking) as backend:
            await relay.run(backend, translator, stream.emit)
        await response.write_eof()
        # A stream that ended in response.failed still had its 200; it is counted apart.
        return response, 200 if translator.status != "failed" else "stream_error"
    except ModelUnavailable as exc:
        error = _unavailable(exc)
    except EarlyFailure as exc:
        error = exc.error
    if not response.prepared:
        return error.response(), error.status
    # The 200 is gone (keep-alive comments during a wake): the failure travels in band.
    await response.write(encode_events(translator.close(error)))
    await response.write_eof()
    return response, error.status


async def _complete(
    ctx: ProxyContext,
    recipe: Recipe,
    relay: ResponseRelay,
    translator: ResponsesStreamTranslator,
) -> tuple[web.Response, int]:
    async def discard(events: list[Event]) -> None:
        return None  # the translator keeps the response object itself

    try:
        # Non-streaming clients wait silently through a wake (no on_wait).
        async with ctx.gate.lease(recipe.name) as backend:
            await relay.run(backend, translator, discard)
    except ModelUnavailable as exc:
        error = _unavailable(exc)
        return error.response(), error.status
    except EarlyFailure as exc:
        return exc.error.response(), exc.error.status
    if translator.status == "failed":
        failed = translator.error or ResponsesError(502, "the model server failed")
        return failed.response(), failed.status
    return web.json_response(translator.response()), 200
