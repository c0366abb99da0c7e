"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic surface's HTTP handlers.

The query (Claude Code always sends ``?beta=true``), ``anthropic-beta`` and
``anthropic-version`` change nothing: one translation serves them all (docs/conformance.md, case 7).
Every request reaches the model server through ``gate.lease``, which wakes it and counts the request
as in flight until its last byte. A streaming request held by a wake gets its 200 and ``: waking …``
comments; a wake that then fails is an ``event: error``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from autosred.proxy.anthropic.count import to_tokenize_request
from autosred.proxy.anthropic.errors import STATUS_OF_TYPE, AnthropicError, ErrorType
from autosred.proxy.anthropic.events import Event, encode_events, error_event
from autosred.proxy.anthropic.message import message_from_events
from autosred.proxy.anthropic.relay import EarlyFailure, MessageRelay
from autosred.proxy.anthropic.request import checked_dumps, to_chat_request
from autosred.proxy.anthropic.respond import (
    error_response,
    from_bad_request,
    from_unavailable,
    from_unknown_model,
)
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.body import BadRequest, read_json_object
from autosred.proxy.context import CLIENT_NAME_KEY, PROXY, ProxyContext, request_id
from autosred.proxy.exchange import Exchange
from autosred.proxy.modelview import model_view
from autosred.proxy.prompt import estimate_prompt_tokens
from autosred.proxy.sse import EventStream
from autosred.recipes import Recipe, request_priority
from autosred.scaler import ModelUnavailable, UnknownModel


@dataclass(frozen=True)
class Surface:
    """The Anthropic surface's own dependencies (the shared ones are in ProxyContext)."""

    signer: ThinkingSigner
    ping_interval: float
    """Seconds without an upstream byte, before the first token, between ``ping`` events."""
    started: float = field(default_factory=time.time)
    """Reported as the models' ``created_at``."""


SURFACE: web.AppKey[Surface] = web.AppKey("anthropic", Surface)


def add_routes(app: web.Application, *, signer: ThinkingSigner, ping_interval: float) -> None:
    app[SURFACE] = Surface(signer=signer, ping_interval=ping_interval)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)


async def _read_request(request: web.Request, ctx: ProxyContext) -> tuple[dict[str, Any], Recipe]:
    """The JSON body and the recipe its ``model`` names; AnthropicError otherwise."""
    try:
        body, _ = await read_json_object(request)
    except BadRequest as exc:
        raise from_bad_request(exc) from None
    model = body.get("model")
    if model is None:
        raise AnthropicError.invalid_request("model: Field required")
    if not isinstance(model, str) or not model:
        raise AnthropicError.invalid_request("model: Input should be a non-empty string")
    try:
        return body, ctx.gate.resolve(model)
    except UnknownModel as exc:
        raise from_unknown_model(exc) from None


def _error_of(events: list[Event]) -> AnthropicError:
    """The AnthropicError an ``error`` event among ``events`` stands for."""
    for event in events:
        if event.type == "error":
            error = event.data["error"]
            kind: ErrorType = error["type"]
            return AnthropicError(STATUS_OF_TYPE.get(kind, 500), kind, error["message"])
    return AnthropicError.of_type("api_error", "The model server ended the message early")


# ------------------------------------------------------------------------------ /v1/messages


async def messages(request: web.Request) -> web.StreamResponse:
    ctx = request.app[PROXY]
    surface = request.app[SURFACE]
    rid = request_id(request)
    client = request.get(CLIENT_NAME_KEY, "-")
    exchange = Exchange(metrics=ctx.metrics, api="anthropic", client=client)
    try:
        body, recipe = await _read_request(request, ctx)
        exchange.model = recipe.name
        chat = to_chat_request(body, recipe_view=model_view(recipe), signer=surface.signer)
    except AnthropicError as exc:
        exchange.finish(exc.status)
        return error_response(exc, rid)
    relay = MessageRelay(
        chat=chat,
        signer=surface.signer,
        ctx=ctx,
        request_id=rid,
        priority=request_priority(
            recipe.priority, model=chat.client_model, headers=request.headers, client=client
        ),
        ping_interval=surface.ping_interval if chat.stream else None,
    )
    status: int | str = "aborted"
    try:
        if chat.stream:
            reply, status = await _stream(request, ctx, recipe, relay, exchange)
        else:
            reply, status = await _complete(ctx, recipe, relay, rid)
        return reply
    finally:
        exchange.finish(status)
        _count_tokens(exchange, relay.usage)
        for anomaly in relay.anomalies:
            ctx.log.warning(
                "anthropic.stream_anomaly",
                extra={"fields": {"request_id": rid, "model": recipe.name, "anomaly": anomaly}},
            )


def _count_tokens(exchange: Exchange, usage: dict[str, Any] | None) -> None:
    if not usage:
        return
    exchange.count_tokens(
        input_tokens=int(usage.get("input_tokens", 0))
        + int(usage.get("cache_read_input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
    )


async def _stream(
    request: web.Request,
    ctx: ProxyContext,
    recipe: Recipe,
    relay: MessageRelay,
    exchange: Exchange,
) -> tuple[web.StreamResponse, int | str]:
    stream = EventStream(request, exchange, encode_events)
    response = stream.response
    retry_after: str | int | None = None
    try:
        try:
            async with ctx.gate.lease(recipe.name, on_wait=stream.waking) as backend:
                await relay.run(backend, stream.emit)
            await response.write_eof()
            # A stream that ended in an error event still had its 200; it is counted apart.
            return response, 200 if relay.usage is not None else "stream_error"
        except ModelUnavailable as exc:
            error, retry_after = from_unavailable(exc)
        except EarlyFailure as exc:
            error, retry_after = exc.error, exc.retry_after
        if not response.prepared:
            reply = error_response(error, request_id(request), retry_after=retry_after)
            return reply, error.status
        # The 200 is gone (keep-alive comments during a wake): the error travels in band.
        await response.write(error_event(error.type, error.message, request_id(request)).encode())
        await response.write_eof()
        return response, error.status
    except ConnectionError:
        # The client hung up while we wrote (handler cancellation covers the rest); the
        # upstream request is already closed. Nobody is left to answer, so no error either.
        ctx.log.info("anthropic.client_gone", extra={"fields": {"request_id": request_id(request)}})
        return response, "aborted"


async def _complete(
    ctx: ProxyContext, recipe: Recipe, relay: MessageRelay, rid: str
) -> tuple[web.Response, int]:
    events: list[Event] = []

    async def collect(more: list[Event]) -> None:
        events.extend(more)

    try:
        # Non-streaming clients wait silently through a wake (no on_wait).
        async with ctx.gate.lease(recipe.name) as backend:
            await relay.run(backend, collect)
    except ModelUnavailable as exc:
        error, retry_after = from_unavailable(exc)
        return error_response(error, rid, retry_after=retry_after), error.status
    except EarlyFailure as exc:
        return error_response(exc.error, rid, retry_after=exc.retry_after), exc.error.status
    try:
        message = message_from_events(events)
    except ValueError:
        error = _error_of(events)
        return error_response(error, rid), error.status
    return web.json_response(message), 200


# ------------------------------------------------------------------------------ count_tokens


async def count_tokens(request: web.Request) -> web.Response:
    """Exact: the /v1/messages translation, then the server's /tokenize (docs/conformance.md,
    case 61); when that cannot answer, an estimate that errs high, because an undercount makes
    Claude Code compact too late."""
    ctx = request.app[PROXY]
    surface = request.app[SURFACE]
    rid = request_id(request)
    exchange = Exchange(
        metrics=ctx.metrics, api="anthropic", client=request.get(CLIENT_NAME_KEY, "-")
    )
    try:
        body, recipe = await _read_request(request, ctx)
        exchange.model = recipe.name
        tokenize = to_tokenize_request(body, recipe_view=model_view(recipe), signer=surface.signer)
    except AnthropicError as exc:
        exchange.finish(exc.status)
        return error_response(exc, rid)
    status: int | str = "aborted"
    try:
        async with ctx.gate.lease(recipe.name) as backend:
            counted = await ctx.model_info.count_tokens(
                ctx.upstream, backend, checked_dumps(tokenize)
            )
        status = 200
    except ModelUnavailable as exc:
        error, retry_after = from_unavailable(exc)
        status = error.status
        return error_response(error, rid, retry_after=retry_after)
    finally:
        exchange.finish(status)
    if counted is not None:
        tokens = counted.count
    else:
        tokens = estimate_prompt_tokens(tokenize)
        ctx.log.warning(
            "anthropic.count_estimated",
            extra={"fields": {"request_id": rid, "model": recipe.name, "input_tokens": tokens}},
        )
    return web.json_response({"input_tokens": tokens})
