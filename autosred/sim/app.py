"""`make_app`: one simulator as an aiohttp Application (its state lives on the app only)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from autosred.sim import chat, completions, info, introspection, tokenization
from autosred.sim.config import SimConfig
from autosred.sim.errors import SimHTTPError
from autosred.sim.records import RequestRecord, Status
from autosred.sim.state import SimState
from autosred.sim.streaming import ClientGone, ConnectionDropped

log = logging.getLogger("autosred.sim")

STATE = web.AppKey("autosred_sim_state", SimState)
_RECORD = web.RequestKey("autosred_sim_record", RequestRecord)

# Paths that are not recorded in /sim/requests: health and metrics polls would drown the
# requests tests care about, and the introspection API must not observe itself.
_UNRECORDED = ("/health", "/metrics", "/ping")

StateHandler = Callable[[web.Request, SimState], Awaitable[web.StreamResponse]]
RecordHandler = Callable[[web.Request, SimState, RequestRecord], Awaitable[web.StreamResponse]]


def make_app(*, config: SimConfig) -> web.Application:
    """A fresh simulator. Run it with any aiohttp runner; `running_sim` is the easy way."""
    app = web.Application(middlewares=[_record_and_answer], client_max_size=64 * 1024**2)
    app[STATE] = SimState(config=config)
    app.on_response_prepare.append(_tag_response)

    def plain(handler: StateHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            return await handler(request, request.app[STATE])

        return route

    def recorded(
        handler: RecordHandler,
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            return await handler(request, request.app[STATE], request[_RECORD])

        return route

    app.router.add_get("/health", plain(info.health))
    app.router.add_get("/ping", plain(info.health))
    app.router.add_get("/version", plain(info.version))
    app.router.add_get("/metrics", plain(info.metrics))
    app.router.add_get("/v1/models", plain(info.models))
    app.router.add_post("/v1/chat/completions", recorded(chat.handle_chat))
    app.router.add_post("/v1/completions", recorded(completions.handle_completions))
    app.router.add_post("/tokenize", recorded(tokenization.handle_tokenize))
    app.router.add_post("/detokenize", recorded(tokenization.handle_detokenize))
    app.router.add_get("/sim/requests", plain(introspection.list_requests))
    app.router.add_delete("/sim/requests", plain(introspection.clear_requests))
    app.router.add_get("/sim/requests/{id}", plain(introspection.get_request))
    app.router.add_get("/sim/script", plain(introspection.get_script))
    app.router.add_post("/sim/script", plain(introspection.put_script))
    app.router.add_get("/sim/stats", plain(introspection.stats))
    return app


def _is_recorded(path: str) -> bool:
    return not (path in _UNRECORDED or path.startswith("/sim/"))


async def _read_body(request: web.Request) -> tuple[Any, str | None]:
    """The parsed JSON body (None when empty), or the raw text and the decode error."""
    if not request.body_exists:
        return None, None
    raw = await request.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return text, str(exc)


@web.middleware
async def _record_and_answer(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE]
    if not _is_recorded(request.path):
        try:
            return await handler(request)
        except SimHTTPError as exc:
            return exc.response()
        except web.HTTPException as exc:
            return _fastapi_style(exc)

    body, body_error = await _read_body(request)
    record = state.log.add(request.method, request.path, dict(request.headers), body)
    record.body_error = body_error
    request[_RECORD] = record
    log.info("request id=%d method=%s path=%s", record.id, request.method, request.path)
    try:
        _check_api_key(request, state)
        response = await handler(request)
    except SimHTTPError as exc:
        _finish(state, record, "failed", exc.status, exc.message)
        return exc.response()
    except web.HTTPException as exc:
        _finish(state, record, "failed", exc.status, exc.reason)
        return _fastapi_style(exc)
    except ConnectionDropped as exc:
        _finish(state, record, "failed", 200 if exc.response else None, "dropped (drop_after)")
        return exc.response or web.Response(status=200)
    except ClientGone as exc:
        _finish(state, record, "aborted", None, "client disconnected")
        return exc.response or web.Response(status=499)
    except asyncio.CancelledError:
        # aiohttp cancels the handler when its connection is lost (handler_cancellation).
        _finish(state, record, "aborted", None, "client disconnected")
        raise
    except Exception as exc:
        log.exception("request id=%d failed", record.id)
        _finish(state, record, "failed", 500, repr(exc))
        return SimHTTPError(500, f"Internal server error: {exc!r}").response()
    status: Status = "completed" if response.status < 400 else "failed"
    _finish(state, record, status, response.status, None)
    return response


def _finish(
    state: SimState,
    record: RequestRecord,
    status: Status,
    http_status: int | None,
    error: str | None,
) -> None:
    if record.status != "running":
        return
    state.log.finish(record, status, http_status=http_status, error=error)
    counters = state.counters
    if status == "completed":
        counters.completed += 1
        if record.finish_reason is not None:
            state.metrics.request_succeeded(record.finish_reason)
    elif status == "aborted":
        counters.aborted += 1
    else:
        counters.failed += 1
    log.info(
        "request_end id=%d status=%s http=%s chunks=%d finish=%s%s",
        record.id,
        status,
        http_status,
        record.chunks_sent,
        record.finish_reason,
        f" error={error!r}" if error else "",
    )


def _check_api_key(request: web.Request, state: SimState) -> None:
    key = state.config.api_key
    if key is None or not request.path.startswith("/v1/"):
        return
    if request.headers.get("Authorization") != f"Bearer {key}":
        # vLLM's authentication middleware answers exactly this (not its usual envelope).
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "Unauthorized"}), content_type="application/json"
        )


def _fastapi_style(exc: web.HTTPException) -> web.StreamResponse:
    """Router errors look like FastAPI's (vLLM's framework): {"detail": "Not Found"}."""
    if exc.content_type == "application/json":
        return web.Response(status=exc.status, text=exc.text, content_type="application/json")
    return web.json_response({"detail": exc.reason}, status=exc.status)


async def _tag_response(request: web.Request, response: web.StreamResponse) -> None:
    record = request.get(_RECORD)
    if record is not None:
        response.headers["X-Sim-Request-Id"] = str(record.id)
