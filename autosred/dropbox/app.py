"""The dropbox's HTTPS app: what is served on the dropbox listener.

Every response, errors included, carries HSTS: the listener speaks only TLS, and a browser
that once reached it should never try it in the clear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

HSTS = "max-age=31536000"
"""One year, the usual; no includeSubDomains: the dropbox answers for its own name only."""

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _hsts(request: web.Request, handler: _Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["Strict-Transport-Security"] = HSTS
        raise
    response.headers["Strict-Transport-Security"] = HSTS
    return response


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_dropbox_app() -> web.Application:
    app = web.Application(middlewares=[_hsts])
    app.router.add_get("/healthz", _healthz)
    return app
