"""tus 1.0.0 at /files/: core, creation, creation-with-upload, expiration, checksum and
termination (https://tus.io/protocols/resumable-upload), over the dropbox service's store.

Decisions beyond the spec, each for a reason:
- Tus-Resumable is required on POST and PATCH (412 otherwise, with Tus-Version); HEAD and
  DELETE without it are plain HTTP (a HEAD of a finished file then describes the download),
  with a wrong one 412.
- X-HTTP-Method-Override is refused (400) on any /files/ request, not honoured: it exists
  for proxies that drop PATCH and DELETE, and TLS terminates in the daemon, so no proxy sees
  the method; honouring it would turn a POST into a write the creation checks never saw, and
  ignoring it would create a stray upload when the client meant a PATCH.
- A creation-with-upload body that fails (checksum, past the length, the client gone)
  removes the upload it created: the client never learnt its Location, so it cannot resume.
- Two PATCHes on one upload: the second is 423 Locked (tusd's answer) and writes nothing.
- A body that stalls past dropbox.body_idle_timeout is cut with 408 and the connection
  closed; what arrived before is kept, and `Upload-Offset` says how far that is.
"""

from __future__ import annotations

import contextlib
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from autosred.dropbox.routes import download
from autosred.dropbox.routes.answers import Refusal, from_store
from autosred.dropbox.routes.auth import Gatekeeper, owner_scope, principal_of
from autosred.dropbox.routes.body import BodyStalled, body_pieces
from autosred.dropbox.routes.headers import (
    CHECKSUM_ALGORITHMS,
    OFFSET_STREAM,
    TUS_EXTENSIONS,
    TUS_VERSION,
    BadHeader,
    ChecksumHeader,
    UnsupportedAlgorithm,
    checksum,
    http_date,
    location_host,
    media_type,
    metadata_header,
    number_header,
    single,
)
from autosred.dropbox.routes.lookup import entry_of, missing
from autosred.dropbox.service import DropboxService
from autosred.dropbox.storage import (
    BadMetadata,
    BadName,
    Checksum,
    Entry,
    NotFound,
    StoreError,
    parse_metadata,
)
from autosred.metrics import Metrics


class TusRoutes:
    """The tus handlers, bound to one service (no state of their own)."""

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
        for path in ("/files/", "/files/{id}"):
            app.router.add_route("OPTIONS", path, self.options)
        app.router.add_post("/files/", self.create)
        app.router.add_route("HEAD", "/files/{id}", self.head)
        app.router.add_patch("/files/{id}", self.patch)
        app.router.add_delete("/files/{id}", self.delete)

    # -- OPTIONS -----------------------------------------------------------------------------

    async def options(self, request: web.Request) -> web.Response:
        principal_of(request, self._gate, writes=False)
        return web.Response(
            status=204,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(self._service.max_size),
                "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
            },
        )

    # -- POST: creation (with upload) --------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        principal = principal_of(request, self._gate, writes=True)
        _require_version(request)
        headers = request.headers
        try:
            if single(headers, "Upload-Defer-Length") is not None:
                raise BadHeader("deferred lengths are not supported: send Upload-Length")
            length = number_header(headers, "Upload-Length")
            if length is None:
                raise BadHeader("Upload-Length is required")
            metadata = parse_metadata(single(headers, "Upload-Metadata") or "")
            has_body = _has_body(request)
            sums = _checksum_of(request) if has_body else None
        except (BadHeader, BadMetadata) as exc:
            raise _bad(exc) from exc
        if length > self._service.max_size:
            raise Refusal(
                413, "too_large", f"Upload-Length is over Tus-Max-Size {self._service.max_size}"
            )
        if has_body:
            _require_offset_stream(request)
            declared = request.content_length
            if declared is not None and declared > length:
                raise Refusal(413, "too_large", "the body is longer than Upload-Length")
        try:
            entry = await self._service.store.create(
                principal.name, length, metadata, quota=principal.quota
            )
        except BadName as exc:
            raise Refusal(400, "bad_request", str(exc)) from exc
        except StoreError as exc:
            raise from_store(exc, upload_id="") from exc
        self._metrics.dropbox_uploads_started.inc()
        if entry.complete:
            self._metrics.dropbox_uploads_finished.inc()
        elif has_body:
            try:
                entry = await self._append(request, entry, 0, sums, resumable=False)
            except Refusal as refusal:
                # The client never learnt the Location: nothing it could resume is kept, and
                # no offset is named.
                try:
                    await self._service.store.terminate(entry.owner, entry.id)
                except StoreError:
                    pass
                refusal.headers.pop("Upload-Offset", None)
                raise
        host = location_host(_one_host(request), _local_authority(request))
        answer = web.Response(
            status=201,
            headers={
                "Location": f"https://{host}/files/{entry.id}",
                "Upload-Offset": str(entry.offset),
                **_expires(entry),
            },
        )
        return answer

    # -- HEAD --------------------------------------------------------------------------------

    async def head(self, request: web.Request) -> web.StreamResponse:
        principal = principal_of(request, self._gate, writes=False)
        tus = _version(request)
        entry = await entry_of(self._service, principal, request.match_info["id"])
        if entry.complete and tus is None:
            return download.head_answer(request, entry, ranges=True)
        headers = {
            "Upload-Offset": str(entry.offset),
            "Upload-Length": str(entry.length),
            "Cache-Control": "no-store",
            **_expires(entry),
        }
        if entry.metadata:
            headers["Upload-Metadata"] = metadata_header(entry.metadata)
        return web.Response(status=200, headers=headers)

    # -- PATCH -------------------------------------------------------------------------------

    async def patch(self, request: web.Request) -> web.Response:
        principal = principal_of(request, self._gate, writes=True)
        _require_version(request)
        _require_offset_stream(request)
        try:
            offset = number_header(request.headers, "Upload-Offset")
            if offset is None:
                raise BadHeader("Upload-Offset is required")
            sums = _checksum_of(request)
        except BadHeader as exc:
            raise _bad(exc) from exc
        entry = await entry_of(self._service, principal, request.match_info["id"])
        if entry.complete:
            if offset == entry.length and not _has_body(request):
                return web.Response(status=204, headers={"Upload-Offset": str(entry.offset)})
            raise _offset_mismatch(entry)
        # The offset itself is checked by the store under the upload's lock: a PATCH racing
        # another is 423 whatever offset it names, never a 409 from a stale read.
        declared = request.content_length
        if declared is not None and offset + declared > entry.length:
            raise Refusal(413, "too_large", "the body goes past Upload-Length")
        entry = await self._append(request, entry, offset, sums, resumable=True)
        return web.Response(
            status=204, headers={"Upload-Offset": str(entry.offset), **_expires(entry)}
        )

    async def _append(
        self,
        request: web.Request,
        entry: Entry,
        offset: int,
        sums: ChecksumHeader | None,
        *,
        resumable: bool,
    ) -> Entry:
        """Write the body at offset; the new state, or a Refusal after counting what landed
        (saying where to resume when the client knows the upload: `resumable`)."""
        store = self._service.store
        wanted = None if sums is None else Checksum(sums.algorithm, sums.digest)
        try:
            # Closed here, not whenever it is collected: its reader task stops with it.
            async with contextlib.aclosing(
                body_pieces(request.content, idle=self._idle, pace=self._service.pacer.pace)
            ) as body:
                after = await store.append(entry.owner, entry.id, offset, body, checksum=wanted)
        except BodyStalled as exc:
            reached = await self._reached(entry)
            self._failed(entry, "interrupted", reached, offset, detail="stalled")
            if not resumable:
                raise Refusal(408, "body_timeout", f"{exc}", close=True) from exc
            raise Refusal(
                408,
                "body_timeout",
                f"{exc}; what arrived is kept: resume at Upload-Offset {reached}",
                headers={"Upload-Offset": str(reached)},
                close=True,
            ) from exc
        except (ConnectionError, HttpProcessingError) as exc:
            reached = await self._reached(entry)
            self._failed(entry, "interrupted", reached, offset, detail=type(exc).__name__)
            raise Refusal(400, "interrupted", "the body ended early", close=True) from exc
        except NotFound as exc:
            # Finished by a PATCH that raced this one: the upload moved to the finished files
            # between this request's lookup and its append, so the offset it named is stale.
            try:
                now = await self._service.lookup(entry.owner, entry.id)
            except NotFound:
                raise from_store(exc, upload_id=entry.id) from exc
            raise _offset_mismatch(now) from exc
        except StoreError as exc:
            refusal = from_store(exc, upload_id=entry.id)
            reason = {
                "checksum_mismatch": "checksum_mismatch",
                "too_large": "past_length",
                "no_space": "no_space",
            }.get(refusal.code)
            if reason is not None:
                reached = await self._reached(entry)
                self._failed(entry, reason, reached, offset, detail=refusal.code)
            raise refusal from exc
        self._metrics.dropbox_received_bytes.inc(after.offset - offset)
        self._log.debug(
            "dropbox.upload.patch",
            extra={"fields": {"id": entry.id, "from": offset, "to": after.offset}},
        )
        if after.complete:
            self._metrics.dropbox_uploads_finished.inc()
        return after

    async def _reached(self, entry: Entry) -> int:
        """The durable offset of an upload after a failed body (its length once complete)."""
        try:
            return (await self._service.store.get(entry.owner, entry.id)).offset
        except StoreError:
            return entry.offset

    def _failed(self, entry: Entry, reason: str, reached: int, offset: int, *, detail: str) -> None:
        self._metrics.dropbox_uploads_failed.labels(reason=reason).inc()
        if reached > offset:
            self._metrics.dropbox_received_bytes.inc(reached - offset)
        self._log.warning(
            "dropbox.upload.failed",
            extra={
                "fields": {
                    "id": entry.id,
                    "owner": entry.owner,
                    "reason": reason,
                    "detail": detail,
                    "offset": reached,
                }
            },
        )

    # -- DELETE ------------------------------------------------------------------------------

    async def delete(self, request: web.Request) -> web.Response:
        principal = principal_of(request, self._gate, writes=True)
        _version(request)
        upload_id = request.match_info["id"]
        try:
            await self._service.remove(owner_scope(principal), upload_id)
        except NotFound as exc:
            raise missing(self._service, principal, upload_id, exc) from exc
        except StoreError as exc:
            raise from_store(exc, upload_id=upload_id) from exc
        return web.Response(status=204)


@web.middleware
async def refuse_method_override(request: web.Request, handler: Handler) -> web.StreamResponse:
    """X-HTTP-Method-Override on any /files/ request is 400 (why: the module's docstring)."""
    if request.path.startswith("/files") and "X-HTTP-Method-Override" in request.headers:
        raise Refusal(
            400,
            "bad_request",
            "X-HTTP-Method-Override is not supported: send the PATCH or DELETE itself",
        )
    return await handler(request)


def _offset_mismatch(entry: Entry) -> Refusal:
    return Refusal(
        409,
        "offset_mismatch",
        f"Upload-Offset is not the upload's offset {entry.offset}",
        headers={"Upload-Offset": str(entry.offset)},
    )


def _version(request: web.Request) -> str | None:
    """The request's Tus-Resumable (None when absent); 412 when it is not 1.0.0."""
    values = request.headers.getall("Tus-Resumable", [])
    if not values:
        return None
    if values != [TUS_VERSION]:
        raise Refusal(
            412,
            "tus_version",
            f"Tus-Resumable must be {TUS_VERSION}",
            headers={"Tus-Version": TUS_VERSION},
        )
    return TUS_VERSION


def _require_version(request: web.Request) -> None:
    if _version(request) is None:
        raise Refusal(
            412,
            "tus_version",
            f"Tus-Resumable: {TUS_VERSION} is required",
            headers={"Tus-Version": TUS_VERSION},
        )


def _require_offset_stream(request: web.Request) -> None:
    try:
        kind = media_type(single(request.headers, "Content-Type"))
    except BadHeader as exc:
        raise _bad(exc) from exc
    if kind != OFFSET_STREAM:
        raise Refusal(415, "content_type", f"Content-Type must be {OFFSET_STREAM}")


def _checksum_of(request: web.Request) -> ChecksumHeader | None:
    text = single(request.headers, "Upload-Checksum")
    return None if text is None else checksum(text)


def _has_body(request: web.Request) -> bool:
    """A body is coming: a Content-Length above 0, or a chunked one."""
    length = request.content_length
    return (length is not None and length > 0) or (
        length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


def _bad(exc: Exception) -> Refusal:
    if isinstance(exc, UnsupportedAlgorithm):
        return Refusal(400, "checksum_algorithm", str(exc))
    return Refusal(400, "bad_request", str(exc))


def _expires(entry: Entry) -> dict[str, str]:
    if entry.complete or entry.expires is None:
        return {}
    return {"Upload-Expires": http_date(entry.expires)}


def _one_host(request: web.Request) -> str | None:
    values = request.headers.getall("Host", [])
    return values[0] if len(values) == 1 else None


def _local_authority(request: web.Request) -> str:
    """host:port of the socket the request came in on (a Location with no usable Host)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return "localhost"
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
