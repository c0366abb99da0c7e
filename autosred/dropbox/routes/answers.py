"""The dropbox's one error envelope, and which status each refusal gets.

Every refusal is `{"error": {"code": ..., "message": ...}}` with the status tus or HTTP
prescribes. The code is
also the `reason` label of `autosred_dropbox_refused`, so it is one of a fixed few.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware

from autosred.dropbox.storage import (
    BadChecksumAlgorithm,
    ChecksumMismatch,
    Expired,
    InsufficientSpace,
    NotFound,
    OffsetMismatch,
    QuotaExceeded,
    StoreError,
    TooLarge,
    UnsafeStorage,
    UploadBusy,
)
from autosred.metrics import Metrics

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CHECKSUM_MISMATCH = 460
"""tus checksum extension: the chunk's checksum differs (no reason phrase in HTTP)."""


class Refusal(Exception):
    """An answer other than success: status, a stable code, a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.close = close


def from_store(exc: StoreError, *, upload_id: str) -> Refusal:
    """The answer to one of the store's refusals."""
    if isinstance(exc, Expired):
        return Refusal(410, "gone", "the upload expired and was removed")
    if isinstance(exc, NotFound):
        return not_found()
    if isinstance(exc, OffsetMismatch):
        return Refusal(
            409,
            "offset_mismatch",
            f"Upload-Offset is not the upload's offset {exc.offset}",
            headers={"Upload-Offset": str(exc.offset)},
        )
    if isinstance(exc, UploadBusy):
        # tusd's answer to a PATCH or DELETE racing another PATCH on the same upload.
        return Refusal(423, "busy", "another request is writing to this upload; retry later")
    if isinstance(exc, TooLarge):
        return Refusal(413, "too_large", str(exc))
    if isinstance(exc, QuotaExceeded):
        # The pairing: a byte quota is 413 (like a file over Tus-Max-Size), a file
        # count quota 507 (no room for another file, whatever its size).
        status = 413 if exc.kind == "bytes" else 507
        return Refusal(status, "quota", str(exc))
    if isinstance(exc, InsufficientSpace):
        return Refusal(507, "no_space", str(exc), headers={"Upload-Offset": str(exc.offset)})
    if isinstance(exc, ChecksumMismatch):
        return Refusal(
            CHECKSUM_MISMATCH, "checksum_mismatch", "the chunk's checksum differs; it was discarded"
        )
    if isinstance(exc, BadChecksumAlgorithm):
        return Refusal(400, "checksum_algorithm", f"checksum algorithm {exc} is not supported")
    if isinstance(exc, UnsafeStorage):
        # Something planted in the storage directory: the id is treated as unknown (the
        # store logs it), never followed.
        return not_found()
    return Refusal(500, "storage", f"the store refused upload {upload_id}")


def not_found() -> Refusal:
    """The one answer for an unknown, malformed or another principal's id."""
    return Refusal(404, "not_found", "no such upload or file")


def envelope(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json")


def error_middleware(*, metrics: Metrics, log: logging.Logger) -> Middleware:
    """Answers Refusals and aiohttp's own errors (no route, wrong method) in the envelope."""

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except Refusal as refusal:
            metrics.dropbox_refused.labels(reason=refusal.code).inc()
            # Debug: any client can cause these at will (the metric counts them all).
            log.log(
                logging.WARNING if refusal.status >= 500 else logging.DEBUG,
                "dropbox.refused",
                extra={
                    "fields": {
                        "method": request.method,
                        "path": request.path[:200],
                        "status": refusal.status,
                        "code": refusal.code,
                        "peer": request.remote,
                    }
                },
            )
            response = envelope(refusal.status, refusal.code, refusal.message)
            response.headers.update(refusal.headers)
            if refusal.close:
                response.force_close()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if exc.status == 404:  # no route: the same words as an id that is not there
                missing = not_found()
                response = envelope(404, missing.code, missing.message)
            else:
                code = "method" if exc.status == 405 else "bad_request"
                response = envelope(exc.status, code, exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
        except (ConnectionError, asyncio.CancelledError):
            raise  # the client is gone: nothing to answer
        except Exception:
            # A fault of the daemon's (a disk error, a bug): logged with its traceback, and
            # answered in the envelope like everything else, saying nothing of its insides.
            log.exception(
                "dropbox.error",
                extra={"fields": {"method": request.method, "peer": request.remote}},
            )
            metrics.dropbox_refused.labels(reason="internal").inc()
            response = envelope(500, "internal", "the dropbox failed to answer this request")
            response.force_close()
        return response

    return middleware
