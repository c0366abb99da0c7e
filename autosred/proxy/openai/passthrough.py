"""OpenAI pass-through: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.

The upstream already speaks this dialect, so the body goes up as sent (only ``model`` is
rewritten to the recipe's served name) and the answer comes back byte for byte, chunk by chunk.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from autosred.proxy.body import BadRequest, read_json_object, required_model
from autosred.proxy.context import CLIENT_NAME_KEY, PROXY, ProxyContext, request_id
from autosred.proxy.exchange import Exchange
from autosred.proxy.openai.errors import error_body, error_response, from_upstream, request_error
from autosred.proxy.sse import open_event_stream, waking_comment
from autosred.proxy.upstream import UPSTREAM_CONNECT_ERRORS
from autosred.recipes import Recipe, request_priority
from autosred.scaler import Backend, ModelUnavailable, UnknownModel, WaitInfo

_RELAYED_HEADERS = ("Content-Type",)
CLIENT_CLOSED = 499
"""Status recorded (not sent) for a request whose client left mid-answer, as nginx does."""


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", _forward("v1/chat/completions"))
    app.router.add_post("/v1/completions", _forward("v1/completions"))
    app.router.add_post("/v1/embeddings", _forward("v1/embeddings"))


def _forward(path: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await forward(request, path=path)

    handler.__name__ = f"forward_{path.replace('/', '_')}"
    return handler


async def forward(request: web.Request, *, path: str) -> web.StreamResponse:
    ctx = request.app[PROXY]
    exchange = Exchange(metrics=ctx.metrics, api="openai", client=request.get(CLIENT_NAME_KEY, "-"))
    try:
        body, raw = await read_json_object(request)
        requested = required_model(body)
        recipe = ctx.gate.resolve(requested)
    except (BadRequest, UnknownModel) as exc:
        refusal = request_error(exc)
        exchange.finish(refusal.status)
        return refusal
    exchange.model = recipe.name
    client = request.get(CLIENT_NAME_KEY, "-")
    priority = request_priority(
        recipe.priority, model=requested, headers=request.headers, client=client
    )
    # The raw bytes go up untouched unless something must change (the fast path).
    rewrite = recipe.served_model_name != requested
    if priority is not None and body.get("priority") != priority:
        body["priority"] = priority  # the operator's rule wins over the client's own value
        rewrite = True
    if rewrite:
        body["model"] = recipe.served_model_name
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    streaming = body.get("stream") is True

    response = web.StreamResponse(status=200)

    async def keep_alive(info: WaitInfo) -> None:
        # Only streaming clients can be kept alive in band; others wait silently.
        if streaming:
            await open_event_stream(request, response)
            await response.write(waking_comment(info))

    status: int | str = "aborted"
    try:
        async with ctx.gate.lease(recipe.name, on_wait=keep_alive) as backend:
            status = await _exchange_with(
                ctx,
                backend,
                request,
                response,
                path=path,
                raw=raw,
                exchange=exchange,
                keepalive_interval=ctx.keepalive_interval if streaming else None,
            )
            return response
    except ModelUnavailable as exc:
        status = 503
        if response.prepared:
            await _write_in_band(response, exc.reason, code=503)
            return response
        return error_response(
            503,
            exc.reason,
            type_="service_unavailable",
            code=exc.kind,
            headers={"Retry-After": str(int(exc.retry_after))},
        )
    finally:
        exchange.finish(status)


async def _exchange_with(
    ctx: ProxyContext,
    backend: Backend,
    request: web.Request,
    response: web.StreamResponse,
    *,
    path: str,
    raw: bytes,
    exchange: Exchange,
    keepalive_interval: float | None,
) -> int:
    url = backend.url / path
    try:
        upstream = await ctx.upstream.post(
            url,
            data=raw,
            headers={"Content-Type": "application/json", "X-Request-Id": request_id(request)},
        )
    except UPSTREAM_CONNECT_ERRORS as exc:
        backend.report_unreachable()
        ctx.metrics.upstream_errors.labels(model=backend.recipe.name, kind="connect").inc()
        message = f"model server for {backend.recipe.name} is unreachable: {exc}"
        if response.prepared:
            await _write_in_band(response, message, code=503)
            return 503
        return await _replace_with(
            request, response, error_response(503, message, type_="service_unavailable")
        )
    async with upstream:
        if upstream.status != 200:
            ctx.metrics.upstream_errors.labels(model=backend.recipe.name, kind="status").inc()
            error = from_upstream(upstream.status, await upstream.read())
            if response.prepared:
                await _write_in_band(response, error.message, code=error.status)
                return error.status
            return await _replace_with(request, response, error.response())
        if not response.prepared:
            for name in _RELAYED_HEADERS:
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            await response.prepare(request)
        content = upstream.content
        try:
            if keepalive_interval is not None and _is_event_stream(upstream.headers):
                chunk = await _first_read(content, response, keepalive_interval)
            else:
                chunk = await content.readany()
            while chunk:
                exchange.first_byte()
                try:
                    await response.write(chunk)
                except ConnectionResetError:
                    # The client hung up; leaving the block closes the upstream request.
                    return CLIENT_CLOSED
                chunk = await content.readany()
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
            ctx.metrics.upstream_errors.labels(model=backend.recipe.name, kind="disconnect").inc()
            ctx.log.warning(
                "proxy.upstream_dropped",
                extra={"fields": {"model": backend.recipe.name, "error": str(exc)}},
            )
            await _write_in_band(response, f"model server closed the stream: {exc}", code=502)
            return 502
        await response.write_eof()
        return 200


KEEPALIVE_COMMENT = b": keep-alive: waiting for the first token\n\n"
"""Sent while a streamed answer's first byte is awaited (a long prefill): SSE parsers ignore
comments, proxies and idle timers see a live connection."""


def _is_event_stream(headers: Mapping[str, str]) -> bool:
    return headers.get("Content-Type", "").startswith("text/event-stream")


async def _first_read(
    content: aiohttp.StreamReader, response: web.StreamResponse, interval: float
) -> bytes:
    """The upstream's first bytes; meanwhile a keep-alive comment every ``interval``."""
    while True:
        timer = asyncio.timeout(interval)
        try:
            async with timer:
                return await content.readany()
        except TimeoutError:
            if not timer.expired():
                raise  # aiohttp's own read timeout: the server went silent
        await response.write(KEEPALIVE_COMMENT)


async def _replace_with(
    request: web.Request, response: web.StreamResponse, replacement: web.Response
) -> int:
    """Answer with ``replacement`` through the already created (unprepared) stream response."""
    response.set_status(replacement.status)
    response.headers.update(replacement.headers)
    await response.prepare(request)
    assert isinstance(replacement.body, bytes)
    await response.write(replacement.body)
    await response.write_eof()
    return replacement.status


async def _write_in_band(response: web.StreamResponse, message: str, *, code: int) -> None:
    """After the 200 is gone an error can only travel inside the stream, as OpenAI's does."""
    frame = b"data: " + json.dumps(error_body(code, message)).encode() + b"\n\n"
    try:
        await response.write(frame)
        await response.write_eof()
    except ConnectionError:
        pass  # the client is gone: there is nobody left to tell


def _card(name: str, recipe: Recipe, created: int) -> dict[str, Any]:
    card: dict[str, Any] = {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": "autosred",
        "root": recipe.served_model_name,
    }
    if recipe.max_model_len is not None:
        card["max_model_len"] = recipe.max_model_len
    return card


async def list_models(request: web.Request) -> web.Response:
    ctx = request.app[PROXY]
    created = int(time.time())
    data = [
        _card(name, recipe, created)
        for recipe in ctx.gate.catalog
        for name in recipe.client_names()
    ]
    return web.json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    """``GET /v1/models/{id}``: any name the daemon resolves, aliases and globs included."""
    ctx = request.app[PROXY]
    name = request.match_info["model_id"]
    recipe = ctx.gate.catalog.resolve(name)
    if recipe is None:
        return error_response(
            404, f"model {name!r} is not served here", param="model", code="model_not_found"
        )
    return web.json_response(_card(name, recipe, int(time.time())))
