"""The api listener's application: every surface on one aiohttp app (also bound as codex).

The surfaces never import each other; this module composes them, and decides which error
envelope an answer the app gives itself (unknown path, wrong method, body too large, missing
token) is written in: the Anthropic one for ``/v1/messages*`` and Anthropic clients, the
OpenAI one otherwise. Each surface's own handlers write their own envelope.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from autosred.clienttokens import ClientTokens
from autosred.config import ApiSettings
from autosred.metrics import Metrics
from autosred.proxy.anthropic import handler as anthropic
from autosred.proxy.anthropic import models as anthropic_models
from autosred.proxy.anthropic.respond import for_status as anthropic_status
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.body import CLOSE_AFTER_ANSWER_KEY
from autosred.proxy.context import (
    CLIENT_NAME_KEY,
    PROXY,
    REQUEST_ID_KEY,
    TRUSTED_KEY,
    ProxyContext,
    new_request_id,
    request_id,
)
from autosred.proxy.hosted.seal import ContentSealer
from autosred.proxy.hosted.tools import HostedTools
from autosred.proxy.modelinfo import ModelInfo
from autosred.proxy.openai import passthrough
from autosred.proxy.openai.errors import error_response as openai_error
from autosred.proxy.requestlog import RequestLog
from autosred.proxy.responses import handler as responses
from autosred.proxy.responses.reasoning import ReasoningSealer
from autosred.proxy.streamclient import UpstreamClient
from autosred.proxy.upstream import make_session
from autosred.scaler import ModelGate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_OPENAI_PATHS = ("/v1/chat/", "/v1/completions", "/v1/embeddings", "/v1/responses")
_OPEN_PATHS = frozenset({"/", "/health", "/api/hello"})
"""Answered without a client token: connectivity preflights (Claude Code sends HEAD / and
HEAD /api/hello, and treats anything but 200 as "proxy down") and the health probe."""


def make_api_app(
    *,
    gate: ModelGate,
    metrics: Metrics,
    settings: ApiSettings,
    log: logging.Logger,
    signer: ThinkingSigner | None = None,
    reasoning_key: bytes | None = None,
    hosted_tools: HostedTools | None = None,
    ping_interval: float = 10.0,
    requests: RequestLog | None = None,
) -> web.Application:
    """``signer``: the daemon's persistent thinking-signature key (default: a key that lives
    as long as the app). ``reasoning_key``: the daemon's persistent secret the Responses
    surface derives its ``encrypted_content`` key from (default: one for this app only); the
    hosted tools' ``encrypted_content`` key is derived from it too. ``hosted_tools``: the
    hosted tools the daemon runs (Anthropic web_search_*/web_fetch_* on /v1/messages, Codex's
    web_search on /v1/responses); None: they are removed.
    ``ping_interval``: seconds between Anthropic ``ping`` events (and Responses keep-alive
    events) while a stream waits for its first token. ``requests``: where each request's
    outcome is kept for the admin API's watchers (default: a log of this app's own)."""
    ctx = ProxyContext(
        gate=gate,
        metrics=metrics,
        settings=settings,
        log=log,
        model_info=ModelInfo(log=log),
        keepalive_interval=ping_interval,
        requests=requests or RequestLog(),
    )
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[_request_ids, _error_envelope(log), _client_auth(settings)],
    )
    app[PROXY] = ctx
    app.cleanup_ctx.append(_upstream_session)
    app.on_response_prepare.append(_stamp_request_id)
    app.router.add_get("/", _ok)  # GET and HEAD
    app.router.add_get("/api/hello", _ok)
    app.router.add_get("/health", _health)
    app.router.add_get("/v1/models", _list_models)
    app.router.add_get("/v1/models/{model_id}", _get_model)
    passthrough.add_routes(app)
    secret = reasoning_key or secrets.token_bytes(32)
    anthropic.add_routes(
        app,
        signer=signer or ThinkingSigner(secrets.token_bytes(32)),
        sealer=ContentSealer(secret),
        hosted_tools=hosted_tools,
    )
    responses.add_routes(app, sealer=ReasoningSealer(secret), hosted_tools=hosted_tools)
    return app


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    ctx = app[PROXY]
    ctx.session = make_session(ctx.settings)
    ctx.relay_client = UpstreamClient(
        connect_timeout=ctx.settings.upstream_connect_timeout,
        read_timeout=ctx.settings.upstream_read_timeout,
    )
    yield
    ctx.relay_client.close()
    ctx.relay_client = None
    await ctx.session.close()
    ctx.session = None


async def _ok(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def _health(request: web.Request) -> web.Response:
    """``{"status": "ok"}`` to anyone (a probe needs no token); the models and their states
    only to a trusted client, since they say what this box runs and when it is busy."""
    if not request.get(TRUSTED_KEY, False):
        return web.json_response({"status": "ok"})
    ctx = request.app[PROXY]
    models = {snapshot.name: snapshot.state.value for snapshot in ctx.gate.snapshots()}
    return web.json_response({"status": "ok", "models": models})


def _speaks_anthropic(request: web.Request) -> bool:
    """Whether the client expects Anthropic-shaped answers: by path, else by the headers every
    Anthropic SDK sends (``anthropic-version``, ``x-api-key``) and OpenAI clients never do."""
    path = request.path
    if path.startswith("/v1/messages") or path == "/v1/complete":
        return True
    if path.startswith(_OPENAI_PATHS):
        return False
    return "anthropic-version" in request.headers or "x-api-key" in request.headers


async def _list_models(request: web.Request) -> web.Response:
    if _speaks_anthropic(request):
        return await anthropic_models.list_models(request)
    return await passthrough.list_models(request)


async def _get_model(request: web.Request) -> web.Response:
    if _speaks_anthropic(request):
        return await anthropic_models.get_model(request)
    return await passthrough.get_model(request)


def _error(
    request: web.Request, status: int, message: str, *, openai_type: str | None = None
) -> web.Response:
    if _speaks_anthropic(request):
        return anthropic_status(status, message).response(request_id(request))
    return openai_error(status, message, type_=openai_type)


# ------------------------------------------------------------------------------ middlewares


@web.middleware
async def _request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[REQUEST_ID_KEY] = new_request_id()
    return await handler(request)


async def _stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer names its request (Anthropic's ``request-id`` header), streams included."""
    response.headers["request-id"] = request_id(request)
    if request.get(CLOSE_AFTER_ANSWER_KEY):
        response.force_close()


def _error_envelope(log: logging.Logger) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if exc.status == 404:
                message = f"{request.method} {request.path} is not served here"
            elif exc.status == 405:
                message = f"{request.method} is not allowed on {request.path}"
            elif exc.status == 413:
                message = exc.text or exc.reason
            else:
                message = exc.reason
            response = _error(request, exc.status, message)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except Exception:
            # A bug must still answer in the surface's envelope (and be logged with its
            # traceback), not as aiohttp's text/plain 500.
            log.exception(
                "proxy.handler_crashed",
                extra={"fields": {"path": request.path, "request_id": request_id(request)}},
            )
            return _error(request, 500, "internal error in the daemon; see its log")

    return middleware


def _client_auth(settings: ApiSettings) -> Middleware:
    """With client tokens configured every request but the open paths needs one of them,
    as ``Authorization: Bearer`` or ``x-api-key`` (Claude Code may send both)."""
    tokens = ClientTokens(settings.clients)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not tokens.required:
            request[CLIENT_NAME_KEY] = "-"
            request[TRUSTED_KEY] = True
            return await handler(request)
        name = tokens.match(request.headers)
        request[TRUSTED_KEY] = name is not None
        if request.path in _OPEN_PATHS:
            request[CLIENT_NAME_KEY] = "-"
            return await handler(request)
        if name is None:
            return _error(
                request, 401, "missing or invalid client token", openai_type="authentication_error"
            )
        request[CLIENT_NAME_KEY] = name
        return await handler(request)

    return middleware
