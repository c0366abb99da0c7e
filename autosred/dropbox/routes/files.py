"""Plain HTTP on the dropbox: the listing, downloads by id (bearer token) and by share link.

A share link's download is counted (by the access module, before a byte is sent) once per
GET; it serves the whole file only, with no Range and no HEAD (405), so a client probing or
resuming cannot use up a one-time link without receiving the file.
"""

from __future__ import annotations

import logging

from aiohttp import web

from autosred.dropbox.access import Denied
from autosred.dropbox.routes import download
from autosred.dropbox.routes.answers import Refusal, not_found
from autosred.dropbox.routes.auth import Gatekeeper, owner_scope, peer_of, principal_of
from autosred.dropbox.routes.lookup import entry_of
from autosred.dropbox.service import DropboxService
from autosred.dropbox.storage import NotFound, UnsafeStorage
from autosred.metrics import Metrics


class FileRoutes:
    def __init__(
        self,
        *,
        service: DropboxService,
        gatekeeper: Gatekeeper,
        metrics: Metrics,
        body_idle_timeout: float,
        log: logging.Logger,
    ) -> None:
        self._service = service
        self._gate = gatekeeper
        self._metrics = metrics
        self._idle = body_idle_timeout
        self._log = log

    def register(self, app: web.Application) -> None:
        app.router.add_get("/files/", self.listing, allow_head=False)
        app.router.add_get("/files/{id}", self.get, allow_head=False)
        app.router.add_get("/s/{secret}", self.shared, allow_head=False)

    async def listing(self, request: web.Request) -> web.Response:
        """`GET /files/?json`: what this token may see (the query is optional: the listing
        is JSON either way)."""
        principal = principal_of(request, self._gate, writes=False)
        entries = await self._service.entries(owner_scope(principal))
        return web.json_response(
            [
                {
                    "id": entry.id,
                    "name": entry.name,
                    "size": entry.length,
                    "sha256": entry.sha256,
                    "complete": entry.complete,
                }
                for entry in entries
            ],
            headers={"Cache-Control": "no-store"},
        )

    async def get(self, request: web.Request) -> web.StreamResponse:
        principal = principal_of(request, self._gate, writes=False)
        entry = await entry_of(self._service, principal, request.match_info["id"])
        if not entry.complete:
            raise Refusal(
                404, "not_found", "the upload is not complete: only finished files download"
            )
        try:
            stored = await self._service.store.open_file(entry.owner, entry.id)
        except NotFound as exc:  # removed since it was looked up
            raise not_found() from exc
        except UnsafeStorage as exc:
            raise self._unsafe(entry.id, exc) from exc
        return await download.stream(
            request,
            stored,
            ranges=True,
            via="token",
            metrics=self._metrics,
            idle=self._idle,
            pace=self._service.pacer.pace,
            log=self._log,
        )

    def _unsafe(self, file_id: str, exc: UnsafeStorage) -> Refusal:
        """Something planted where a file's data should be (a link, a device): never
        followed or served; the id answers as unknown, and the log says what was found."""
        self._log.warning(
            "dropbox.store.unsafe", extra={"fields": {"entry": file_id, "detail": str(exc)}}
        )
        return not_found()

    async def shared(self, request: web.Request) -> web.StreamResponse:
        claim = await self._gate.claim_share(request.match_info["secret"], peer_of(request))
        if isinstance(claim, Denied):
            if claim.reason == "rate_limited":
                raise Refusal(
                    429,
                    "rate_limited",
                    "too many failed attempts from this address; wait before trying again",
                )
            if claim.reason in ("expired", "used_up"):
                raise Refusal(410, "gone", "this share link has expired or been used up")
            raise not_found()
        try:
            stored = await self._service.store.open_file(claim.owner, claim.file_id)
        except NotFound as exc:
            raise not_found() from exc
        except UnsafeStorage as exc:
            raise self._unsafe(claim.file_id, exc) from exc
        return await download.stream(
            request,
            stored,
            ranges=False,
            via="share",
            metrics=self._metrics,
            idle=self._idle,
            pace=self._service.pacer.pace,
            log=self._log,
        )
