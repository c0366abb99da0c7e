"""The api listener's application: every surface on one aiohttp app (also bound as codex)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from autosred.config import ApiSettings
from autosred.metrics import Metrics
from autosred.proxy.context import CLIENT_NAME_KEY, PROXY, ProxyContext
from autosred.proxy.openai import passthrough
from autosred.proxy.openai.errors import error_response
from autosred.proxy.upstream import make_session
from autosred.scaler import ModelGate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_api_app(
    *, gate: ModelGate, metrics: Metrics, settings: ApiSettings, log: logging.Logger
) -> web.Application:
    ctx = ProxyContext(gate=gate, metrics=metrics, settings=settings, log=log)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[_error_envelope, _client_auth(settings)],
    )
    app[PROXY] = ctx
    app.cleanup_ctx.append(_upstream_session)
    app.router.add_route("HEAD", "/", _ok)
    app.router.add_get("/health", _health)
    app.router.add_get("/v1/models", passthrough.list_models)
    passthrough.add_routes(app)
    return app


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    ctx = app[PROXY]
    ctx.session = make_session(ctx.settings)
    yield
    await ctx.session.close()
    ctx.session = None


async def _ok(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def _health(request: web.Request) -> web.Response:
    ctx = request.app[PROXY]
    models = {snapshot.name: snapshot.state.value for snapshot in ctx.gate.snapshots()}
    return web.json_response({"status": "ok", "models": models})


@web.middleware
async def _error_envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (unknown path, wrong method, body too large) in the OpenAI shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(
            exc.status, exc.reason if exc.status != 413 else exc.text or exc.reason
        )


def _client_auth(settings: ApiSettings) -> Middleware:
    """With client tokens configured every request but HEAD / and /health needs one of them,
    as ``Authorization: Bearer`` or ``x-api-key`` (Claude Code may send both)."""
    tokens = {client.token_sha256.lower(): client.name for client in settings.clients}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not tokens or request.path in ("/", "/health", "/api/hello"):
            request[CLIENT_NAME_KEY] = "-"
            return await handler(request)
        name = _match_token(request, tokens)
        if name is None:
            return error_response(
                401, "missing or invalid client token", type_="authentication_error"
            )
        request[CLIENT_NAME_KEY] = name
        return await handler(request)

    return middleware


def _match_token(request: web.Request, tokens: dict[str, str]) -> str | None:
    offered = []
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        offered.append(authorization[7:].strip())
    if "x-api-key" in request.headers:
        offered.append(request.headers["x-api-key"].strip())
    for token in offered:
        digest = hashlib.sha256(token.encode()).hexdigest()
        for known, name in tokens.items():
            if hmac.compare_digest(digest, known):
                return name
    return None
