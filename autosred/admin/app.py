"""The admin API: an aiohttp app served on the daemon's Unix socket.

Routes (every body JSON; every error ``{"error": {"type", "message"}}``):

=====  ===========================  ==================================================
GET    /v1/version                  VersionInfo
GET    /v1/status                   Status
GET    /v1/models                   ModelList (every configured model: the available ones)
GET    /v1/running                  ModelList (those holding a server now)
GET    /v1/models/{name}            ModelStatus (404 lists the model names)
POST   /v1/models/{name}/scale      ScaleRequest (direction up | down | switch) -> Progress,
                                    or with ``wait`` an NDJSON stream of Progress ending with
                                    ScaleDone or an error
GET    /v1/models/{name}/drift      DriftReport (the recipe's rendered spec vs what runs)
GET    /v1/recipes/{name}/helm-values
                                    HelmValues (the recipe as helm/autosre values)
POST   /v1/recipes/{name}/apply     RecipeApplyRequest -> RecipeApplied (server-side apply
                                    of the recipe's Service and Deployment; 409: fields
                                    another manager owns)
GET    /v1/dropbox/cert             DropboxCert (404 when the dropbox is not enabled)
GET    /v1/dropbox/tokens           DropboxTokenList
POST   /v1/dropbox/tokens           DropboxTokenRequest -> DropboxTokenCreated (409: the
                                    name's token is active)
DELETE /v1/dropbox/tokens/{name}    DropboxToken, revoked (404: no active token so named)
POST   /v1/dropbox/session          DropboxSession (a short-lived token for autosrectl)
GET    /v1/dropbox/files            DropboxFileList (every owner's)
DELETE /v1/dropbox/files/{id}       DropboxFile, removed (404 unknown; 409 while written to)
POST   /v1/dropbox/shares           DropboxShareRequest -> DropboxShare (404: no such
                                    finished file)
POST   /v1/reload                   ReloadResult (``ok: false``: config rejected)
GET    /v1/watch?interval=S         NDJSON stream of WatchLine: a frame every S seconds
                                    (default 1) and each request as it finishes
=====  ===========================  ==================================================

Every request's peer is checked with SO_PEERCRED before any handler runs (see peercred.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from autosred.admin.control import Control, ControlError
from autosred.admin.peercred import PeerCred, PeerPolicy, peer_credentials
from autosred.admin.schema import (
    NDJSON,
    PACKAGE_VERSION,
    ApiError,
    DropboxFileList,
    DropboxShareRequest,
    DropboxTokenList,
    DropboxTokenRequest,
    ModelList,
    Progress,
    RecipeApplyRequest,
    ScaleDone,
    ScaleLine,
    ScaleRequest,
    SchemaError,
    VersionInfo,
    dumps,
)
from autosred.admin.serve import serve_unix
from autosred.admin.watch import watch

__all__ = ["CONTROL", "LOG", "PEER", "POLICY", "SHUTTING_DOWN", "make_app", "serve_unix"]

CONTROL = web.AppKey("admin.control", Control)
POLICY = web.AppKey("admin.policy", PeerPolicy)
LOG = web.AppKey("admin.log", logging.Logger)
PEER = web.RequestKey("admin.peer", PeerCred)
SHUTTING_DOWN = web.AppKey("admin.shutting_down", asyncio.Event)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Body = TypeVar("_Body")

# aiohttp's own HTTP errors (no route, wrong method, body too large) -> envelope types.
_HTTP_ERROR_TYPES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}


def make_app(
    *, control: Control, allowed_group: str | None, log: logging.Logger
) -> web.Application:
    """The admin app. Peers allowed: root, the daemon's own uid, members of ``allowed_group``."""
    app = web.Application(middlewares=[_error_envelope, _peer_check])
    app[CONTROL] = control
    app[POLICY] = PeerPolicy(own_uid=os.geteuid(), group=allowed_group)
    app[LOG] = log
    app[SHUTTING_DOWN] = asyncio.Event()
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/v1/version", _version)
    app.router.add_get("/v1/status", _status)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/running", _running)
    app.router.add_get("/v1/models/{name}", _model)
    app.router.add_post("/v1/models/{name}/scale", _scale)
    app.router.add_get("/v1/models/{name}/drift", _drift)
    app.router.add_get("/v1/recipes/{name}/helm-values", _helm_values)
    app.router.add_post("/v1/recipes/{name}/apply", _apply_recipe)
    app.router.add_get("/v1/dropbox/cert", _dropbox_cert)
    app.router.add_get("/v1/dropbox/tokens", _dropbox_tokens)
    app.router.add_post("/v1/dropbox/tokens", _dropbox_create_token)
    app.router.add_delete("/v1/dropbox/tokens/{name}", _dropbox_revoke_token)
    app.router.add_post("/v1/dropbox/session", _dropbox_session)
    app.router.add_get("/v1/dropbox/files", _dropbox_files)
    app.router.add_delete("/v1/dropbox/files/{id}", _dropbox_remove)
    app.router.add_post("/v1/dropbox/shares", _dropbox_share)
    app.router.add_post("/v1/reload", _reload)
    app.router.add_get("/v1/watch", _watch)
    return app


async def _end_streams(app: web.Application) -> None:
    # A `scale --wait` may wait for minutes; without this the daemon's shutdown would wait
    # for it too (aiohttp lets running handlers finish before it stops).
    app[SHUTTING_DOWN].set()


class _ShuttingDown(Exception):
    pass


def error_response(status: int, type: str, message: str) -> web.Response:
    return _json(ApiError(type=type, message=message).to_json(), status=status)


def _json(body: dict[str, Any], *, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body) + b"\n", status=status, content_type="application/json")


# --- middlewares -------------------------------------------------------------------------------


@web.middleware
async def _error_envelope(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """The one error shape, whatever raised: ControlError, aiohttp's HTTP errors, or a bug."""
    try:
        return await handler(request)
    except ControlError as exc:
        return error_response(exc.status, exc.type, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = _HTTP_ERROR_TYPES.get(exc.status, "internal" if exc.status >= 500 else "bad_request")
        return error_response(exc.status, kind, exc.reason)
    except Exception:
        request.app[LOG].exception(
            "admin.handler_failed",
            extra={"fields": {"method": request.method, "path": request.path}},
        )
        return error_response(
            500, "internal", "internal error in the admin API (see the daemon log)"
        )


@web.middleware
async def _peer_check(request: web.Request, handler: _Handler) -> web.StreamResponse:
    peer = _peer_of(request)
    policy = request.app[POLICY]
    if peer is None or not policy.allows(peer):
        fields: dict[str, int | None] = {"uid": None, "pid": None, "gid": None}
        if peer is not None:
            fields = {"uid": peer.uid, "pid": peer.pid, "gid": peer.gid}
        request.app[LOG].warning("admin.peer_refused", extra={"fields": fields})
        allowed = "root or the daemon's user"
        if policy.group:
            allowed += f" or a member of group {policy.group!r}"
        who = f"uid {peer.uid}" if peer is not None else "a peer without credentials"
        return error_response(403, "forbidden", f"{who} may not use the admin API ({allowed})")
    request[PEER] = peer
    return await handler(request)


def _peer_of(request: web.Request) -> PeerCred | None:
    """SO_PEERCRED of the request's connection; None (refused) when it cannot be read.

    A TCP socket, a closed transport or any OSError fails closed.
    """
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return None
    try:
        return peer_credentials(sock)
    except OSError:
        return None


# --- handlers ----------------------------------------------------------------------------------


async def _version(request: web.Request) -> web.Response:
    return _json(VersionInfo(version=PACKAGE_VERSION).to_json())


async def _status(request: web.Request) -> web.Response:
    return _json(request.app[CONTROL].status().to_json())


async def _models(request: web.Request) -> web.Response:
    return _json(ModelList(models=request.app[CONTROL].models()).to_json())


async def _model(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    models = request.app[CONTROL].models()
    for model in models:
        if model.name == name:
            return _json(model.to_json())
    raise ControlError.unknown_model(name, (m.name for m in models))


async def _running(request: web.Request) -> web.Response:
    """The models that hold a server now (starting, ready or stopping); /v1/models lists all."""
    running = [m for m in request.app[CONTROL].models() if m.state in _RUNNING_STATES]
    return _json(ModelList(models=running).to_json())


_RUNNING_STATES = frozenset({"starting", "ready", "stopping"})


async def _drift(request: web.Request) -> web.Response:
    report = await request.app[CONTROL].drift(request.match_info["name"])
    return _json(report.to_json())


async def _helm_values(request: web.Request) -> web.Response:
    return _json(request.app[CONTROL].helm_values(request.match_info["name"]).to_json())


async def _apply_recipe(request: web.Request) -> web.Response:
    body = _decoded(RecipeApplyRequest.from_json, await _json_body(request))
    applied = await request.app[CONTROL].apply_recipe(request.match_info["name"], body)
    if not applied.dry_run:
        _changed(
            request,
            "admin.recipe_applied",
            model=applied.model,
            **{obj.kind.lower(): obj.action for obj in applied.objects},
        )
    return _json(applied.to_json())


async def _dropbox_cert(request: web.Request) -> web.Response:
    return _json(request.app[CONTROL].dropbox_cert().to_json())


async def _dropbox_tokens(request: web.Request) -> web.Response:
    tokens = await request.app[CONTROL].dropbox_tokens()
    return _json(DropboxTokenList(tokens=tokens).to_json())


async def _dropbox_create_token(request: web.Request) -> web.Response:
    body = _decoded(DropboxTokenRequest.from_json, await _json_body(request))
    created = await request.app[CONTROL].dropbox_create_token(body)
    _changed(request, "admin.dropbox_token_created", name=created.info.name)
    return _json(created.to_json())


async def _dropbox_revoke_token(request: web.Request) -> web.Response:
    revoked = await request.app[CONTROL].dropbox_revoke_token(request.match_info["name"])
    _changed(request, "admin.dropbox_token_revoked", name=revoked.name)
    return _json(revoked.to_json())


async def _dropbox_session(request: web.Request) -> web.Response:
    session = await request.app[CONTROL].dropbox_session()
    _changed(request, "admin.dropbox_session")
    return _json(session.to_json())


async def _dropbox_files(request: web.Request) -> web.Response:
    files = await request.app[CONTROL].dropbox_files()
    return _json(DropboxFileList(files=files).to_json())


async def _dropbox_remove(request: web.Request) -> web.Response:
    removed = await request.app[CONTROL].dropbox_remove(request.match_info["id"])
    _changed(request, "admin.dropbox_file_removed", id=removed.id, owner=removed.owner)
    return _json(removed.to_json())


async def _dropbox_share(request: web.Request) -> web.Response:
    body = _decoded(DropboxShareRequest.from_json, await _json_body(request))
    shared = await request.app[CONTROL].dropbox_share(body)
    _changed(request, "admin.dropbox_shared", id=shared.id, owner=shared.owner)
    return _json(shared.to_json())


def _changed(request: web.Request, event: str, **fields: str) -> None:
    """One log line for a change made over the socket, naming the uid that made it."""
    request.app[LOG].info(event, extra={"fields": {**fields, "uid": request[PEER].uid}})


def _decoded(from_json: Callable[[object], _Body], body: object) -> _Body:
    try:
        return from_json(body)
    except SchemaError as exc:
        raise ControlError.of("bad_request", str(exc)) from exc


async def _reload(request: web.Request) -> web.Response:
    log = request.app[LOG]
    log.info("admin.reload_requested", extra={"fields": {"uid": request[PEER].uid}})
    result = await request.app[CONTROL].reload()
    fields = {"ok": result.ok, "models": ",".join(result.models)}
    log.log(
        logging.INFO if result.ok else logging.WARNING,
        "admin.reload_done",
        extra={"fields": fields},
    )
    return _json(result.to_json())


async def _watch(request: web.Request) -> web.StreamResponse:
    return await watch(
        request, control=request.app[CONTROL], stop=request.app[SHUTTING_DOWN], log=request.app[LOG]
    )


async def _scale(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    body = await _json_body(request)
    try:
        scale = ScaleRequest.from_json(body)
    except SchemaError as exc:
        raise ControlError.of("bad_request", str(exc)) from exc
    control = request.app[CONTROL]
    log = request.app[LOG]
    log.info(
        "admin.scale_requested",
        extra={
            "fields": {
                "model": name,
                "direction": scale.direction,
                "wait": scale.wait,
                "uid": request[PEER].uid,
            }
        },
    )
    start = {"up": control.scale_up, "down": control.scale_down, "switch": control.switch}
    progress = start[scale.direction](name, wait=scale.wait)
    try:
        # The first item comes before any byte is sent: an unknown model or a refusal is then
        # an ordinary HTTP error, not the last line of a 200 stream.
        try:
            first = await anext(progress)
        except StopAsyncIteration:
            raise ControlError.of("internal", f"scaling {name!r} reported no state") from None
        if not scale.wait:
            return _json(first.to_json())
        return await _stream_progress(request, name, first, progress)
    finally:
        await _aclose(progress)


async def _stream_progress(
    request: web.Request, name: str, first: Progress, progress: AsyncIterator[Progress]
) -> web.StreamResponse:
    log = request.app[LOG]
    started = asyncio.get_running_loop().time()
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    await response.prepare(request)
    last = first
    final: ScaleLine
    try:
        if not await _send_line(response, first):
            return response
        async for last in _until_shutdown(progress, request.app[SHUTTING_DOWN]):
            if not await _send_line(response, last):
                return response
        final = ScaleDone(
            model=last.model,  # the model's own name, also when the URL used an alias
            state=last.state,
            elapsed_seconds=asyncio.get_running_loop().time() - started,
        )
    except ControlError as exc:
        final = exc.envelope()
    except _ShuttingDown:
        final = ApiError(type="unavailable", message="autosred is shutting down")
    except Exception:
        # The 200 is already out, so the failure can only be reported in band.
        log.exception("admin.scale_failed", extra={"fields": {"model": name}})
        final = ApiError(
            type="internal", message="internal error while scaling (see the daemon log)"
        )
    if await _send_line(response, final):
        await response.write_eof()
    return response


async def _until_shutdown(
    progress: AsyncIterator[Progress], stop: asyncio.Event
) -> AsyncIterator[Progress]:
    """The items of ``progress``; raises _ShuttingDown if the daemon stops before they end."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            step = asyncio.ensure_future(anext(progress))
            await asyncio.wait({step, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                # Cancelling the pending step closes the generator (its finally unsubscribes).
                step.cancel()
                await asyncio.wait({step})
                raise _ShuttingDown
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        stopping.cancel()


async def _send_line(response: web.StreamResponse, line: ScaleLine) -> bool:
    """Write one NDJSON record; False when the client has gone (the wake itself goes on)."""
    try:
        await response.write(dumps(line.to_json()) + b"\n")
    except ConnectionError:
        return False
    return True


async def _aclose(iterator: AsyncIterator[Progress]) -> None:
    # Control returns AsyncIterator; async generators (the usual implementation) need an
    # explicit close so their `finally` (unsubscribing from progress) runs now, not at GC.
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def _json_body(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parser's stack (``[[[[…``), as bad as any.
        raise ControlError.of("bad_request", f"the body is not valid JSON: {exc}") from None
