"""The dropbox's HTTPS app: what is served on the dropbox listener.

Every response, errors included, carries HSTS: the listener speaks only TLS, and a browser
that once reached it should never try it in the clear. /files/ is tus 1.0.0 plus downloads
(routes/tus.py, routes/files.py), /s/{secret} the share links, /healthz the liveness check.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from autosred.dropbox.routes.answers import error_middleware
from autosred.dropbox.routes.auth import Gatekeeper
from autosred.dropbox.routes.files import FileRoutes
from autosred.dropbox.routes.headers import TUS_VERSION
from autosred.dropbox.routes.tus import TusRoutes, refuse_method_override
from autosred.dropbox.service import DropboxService
from autosred.metrics import Metrics

HSTS = "max-age=31536000"
"""One year, the usual; no includeSubDomains: the dropbox answers for its own name only."""


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set on every answer just before its head is sent: streamed downloads and aiohttp's
    own errors included, which a middleware would miss."""
    response.headers["Strict-Transport-Security"] = HSTS
    if request.path.startswith("/files"):
        response.headers["Tus-Resumable"] = TUS_VERSION  # tus: on every response


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_dropbox_app(
    *,
    service: DropboxService,
    gatekeeper: Gatekeeper,
    metrics: Metrics,
    body_idle_timeout: float,
    log: logging.Logger,
) -> web.Application:
    """The dropbox app over `service`; it starts the service's expiry with the app and
    closes the service when the app stops."""
    app = web.Application(
        middlewares=[error_middleware(metrics=metrics, log=log), refuse_method_override]
    )
    app.on_response_prepare.append(_common_headers)
    app.router.add_get("/healthz", _healthz)
    TusRoutes(
        service=service,
        gatekeeper=gatekeeper,
        metrics=metrics,
        body_idle_timeout=body_idle_timeout,
        log=log,
    ).register(app)
    FileRoutes(
        service=service,
        gatekeeper=gatekeeper,
        metrics=metrics,
        body_idle_timeout=body_idle_timeout,
        log=log,
    ).register(app)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        service.start()
        yield
        await service.aclose()

    app.cleanup_ctx.append(lifespan)
    return app
