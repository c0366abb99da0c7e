"""The HTTP face of the fake: the REST paths and query parameters the official client uses.

Paths are parsed by hand rather than by route patterns because Kubernetes paths are
ambiguous to a router (``/api/v1/namespaces/default`` is a Namespace object,
``/api/v1/namespaces/default/pods`` a collection in it). Every error is a ``Status`` object
with its HTTP code. Watches stream one JSON event per line on a chunked response.

``/__control`` (GET, POST) is the fake's own endpoint; it answers even while the "API server"
is down, since it stands for the test harness, not the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fake_k3s import resources
from fake_k3s.control import Settings
from fake_k3s.errors import (
    ApiError,
    bad_request,
    method_not_allowed,
    no_route,
    unavailable,
)
from fake_k3s.registry import PATCH_TYPES, Registry, parse_patch_body
from fake_k3s.resources import DEPLOYMENTS, PODS, ResourceType
from fake_k3s.selectors import FieldSelector, LabelSelector
from fake_k3s.store import JSON, Store

log = logging.getLogger("fake_k3s.api")

CONTROL_PATH = "/__control"
_WATCH_TICK = 1.0  # how often an idle watch checks its client is still there


@dataclass(frozen=True)
class Backend:
    """What the HTTP layer needs from the cluster (passed in: no globals)."""

    store: Store
    registry: Registry
    settings: Callable[[], Settings]
    control: Callable[[dict[str, Any]], dict[str, Any]]
    logs: Callable[[str, str, str | None, bool], list[str]]
    server_address: Callable[[], str]


BACKEND = web.AppKey("backend", Backend)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _error(exc: ApiError) -> web.Response:
    return _json(exc.status(), exc.code)


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP RST, as when the API server's process dies."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@web.middleware
async def _middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    backend = request.app[BACKEND]
    down = backend.settings().api_down
    if down and request.path != CONTROL_PATH:
        if down == "reset":
            _reset(request)
        return _error(unavailable())
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc)
    except web.HTTPException:
        raise
    except Exception as exc:  # a bug in the fake: say so in a Status, as the server would
        log.exception("fake API server error on %s %s", request.method, request.path)
        return _error(ApiError(500, "InternalError", f"Internal error occurred: {exc!r}"))


# -- the fake's own control endpoint --------------------------------------------------------------


async def _control(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    if request.method == "GET":
        return _json(backend.settings().public())
    try:
        body = await request.json()
    except ValueError:
        return _json({"error": "the body must be a JSON object"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "the body must be a JSON object"}, 400)
    try:
        return _json(backend.control(body))
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)


# -- discovery ----------------------------------------------------------------------------------


def _discovery(path: list[str], backend: Backend) -> JSON | None:
    if path == ["version"]:
        return resources.VERSION_INFO
    if path == ["api"]:
        return resources.api_versions(backend.server_address())
    if path == ["apis"]:
        return resources.api_group_list()
    if len(path) == 2 and path[0] == "api":
        return resources.resource_list("", path[1])
    if len(path) == 2 and path[0] == "apis":
        return resources.api_group(path[1])
    if len(path) == 3 and path[0] == "apis":
        return resources.resource_list(path[1], path[2])
    return None


# -- resources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    resource: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def _parse_target(path: list[str]) -> Target | None:
    if len(path) >= 3 and path[0] == "api":
        group, version, rest = "", path[1], path[2:]
    elif len(path) >= 4 and path[0] == "apis":
        group, version, rest = path[1], path[2], path[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        inner = resources.lookup(group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    resource = resources.lookup(group, version, rest[0])
    if resource is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in resource.subresources:
        return None
    if resource.namespaced and name is not None and namespace is None:
        return None
    return Target(resource, namespace, name, sub)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def _manager(request: web.Request) -> str | None:
    """The write's field manager: ``fieldManager``, else the User-Agent up to its first '/'
    (the API server's rule; the official Python client's is ``OpenAPI-Generator``). An apply
    must name one: None then, which the registry refuses."""
    named = request.query.get("fieldManager")
    if not named and request.headers.get("Content-Type", "").startswith("application/apply-"):
        return None
    if named:
        if len(named) > 128 or not named.isprintable():
            raise bad_request(
                "fieldManager: Invalid value: must be at most 128 printable characters"
            )
        return named
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0][:128] or "unknown"


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def _int_param(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError as exc:
        raise bad_request(f"invalid {name}: {value!r}") from exc


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from exc


def _strip_list_item(obj: JSON) -> JSON:
    # Items of a list carry no kind/apiVersion on the wire (the list says what they are).
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


async def _resource(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    path = [part for part in request.path.split("/") if part]
    if path and path[-1] in ("healthz", "livez", "readyz") and len(path) == 1:
        return web.Response(text="ok")
    if request.method == "GET" and (document := _discovery(path, backend)) is not None:
        return _json(document)
    target = _parse_target(path)
    if target is None:
        raise no_route(request.path)
    method = request.method
    if target.name is None:
        if method == "GET":
            return await _list_or_watch(request, target, backend)
        if method == "POST":
            if target.resource.namespaced and target.namespace is None:
                raise method_not_allowed(method, request.path)
            created = backend.registry.create(
                target.resource, target.namespace, await _body(request),
                manager=_manager(request), dry_run=_dry_run(request),
            )  # fmt: skip
            return _json(created, 201)
        if method == "DELETE":
            options = await _delete_options(request)
            deleted = backend.registry.delete_collection(
                target.resource, target.namespace,
                LabelSelector.parse(request.query.get("labelSelector")),
                FieldSelector.parse(request.query.get("fieldSelector")), **options,
            )  # fmt: skip
            return _json(_list_body(target.resource, deleted, backend.store.resource_version))
        raise method_not_allowed(method, request.path)
    if target.subresource == "scale":
        return await _scale(request, target, backend)
    if target.subresource == "log":
        if method != "GET":
            raise method_not_allowed(method, request.path)
        return _log(request, target, backend)
    return await _object(request, target, backend)


async def _object(request: web.Request, target: Target, backend: Backend) -> web.Response:
    assert target.name is not None
    method = request.method
    sub = target.subresource
    if method == "GET":
        return _json(backend.store.get(target.resource, target.namespace, target.name))
    if method == "PUT":
        body = await _body(request)
        return _json(
            backend.registry.replace(
                target.resource,
                target.namespace,
                target.name,
                body,
                subresource=sub,
                manager=_manager(request),
                dry_run=_dry_run(request),
            )
        )
    if method == "PATCH":
        content_type = request.headers.get("Content-Type", "")
        body = parse_patch_body(content_type, await request.read())
        return _json(
            backend.registry.patch(
                target.resource,
                target.namespace,
                target.name,
                content_type,
                body,
                subresource=sub,
                manager=_manager(request),
                force=_flag(request, "force"),
                dry_run=_dry_run(request),
            )
        )
    if method == "DELETE" and sub is None:
        options = await _delete_options(request)
        result = backend.registry.delete(target.resource, target.namespace, target.name, **options)
        return _json(result)
    raise method_not_allowed(method, request.path)


async def _delete_options(request: web.Request) -> dict[str, Any]:
    body = await _body(request)
    options = body if isinstance(body, dict) else {}
    grace = _int_param(request.query.get("gracePeriodSeconds"), "gracePeriodSeconds")
    if grace is None and options.get("gracePeriodSeconds") is not None:
        grace = int(options["gracePeriodSeconds"])
    propagation = request.query.get("propagationPolicy") or options.get("propagationPolicy")
    if options.get("orphanDependents") is True:
        propagation = "Orphan"
    return {"grace_period": grace, "propagation": propagation}


async def _scale(request: web.Request, target: Target, backend: Backend) -> web.Response:
    assert target.name is not None and target.namespace is not None
    if target.resource != DEPLOYMENTS:
        raise no_route(request.path)
    if request.method == "GET":
        return _json(backend.registry.get_scale(target.namespace, target.name))
    if request.method == "PUT":
        return _json(
            backend.registry.replace_scale(
                target.namespace, target.name, await _body(request), manager=_manager(request)
            )
        )
    if request.method == "PATCH":
        content_type = request.headers.get("Content-Type", "")
        body = parse_patch_body(content_type, await request.read())
        return _json(
            backend.registry.patch_scale(
                target.namespace, target.name, content_type, body, manager=_manager(request)
            )
        )
    raise method_not_allowed(request.method, request.path)


def _log(request: web.Request, target: Target, backend: Backend) -> web.Response:
    assert target.name is not None and target.namespace is not None
    if target.resource != PODS:
        raise no_route(request.path)
    lines = backend.logs(
        target.namespace, target.name, request.query.get("container"), _flag(request, "previous")
    )
    tail = _int_param(request.query.get("tailLines"), "tailLines")
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    text = "".join(f"{line}\n" for line in lines)
    return web.Response(text=text, content_type="text/plain")


def _list_body(resource: ResourceType, items: list[JSON], version: int) -> JSON:
    return {
        "kind": resource.list_kind,
        "apiVersion": resource.api_version,
        "metadata": {"resourceVersion": str(version)},
        "items": [_strip_list_item(item) for item in items],
    }


async def _list_or_watch(
    request: web.Request, target: Target, backend: Backend
) -> web.StreamResponse:
    labels = LabelSelector.parse(request.query.get("labelSelector"))
    fields = FieldSelector.parse(request.query.get("fieldSelector"))
    if _flag(request, "watch"):
        return await _watch(request, target, backend, labels, fields)
    items = backend.store.list(target.resource, target.namespace, labels, fields)
    return _json(_list_body(target.resource, items, backend.store.resource_version))


def _line(event_type: str, obj: JSON) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}) + "\n").encode()


async def _watch(
    request: web.Request,
    target: Target,
    backend: Backend,
    labels: LabelSelector,
    fields: FieldSelector,
) -> web.StreamResponse:
    version_text = request.query.get("resourceVersion", "")
    since = None if version_text in ("", "0") else _int_param(version_text, "resourceVersion")
    timeout = request.query.get("timeoutSeconds")
    try:
        seconds = float(timeout) if timeout else None
    except ValueError as exc:
        raise bad_request(f"invalid timeoutSeconds: {timeout!r}") from exc
    bookmarks = _flag(request, "allowWatchBookmarks")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    try:
        watch = backend.store.watch(target.resource, target.namespace, labels, fields, since)
    except ApiError as exc:
        # A real server starts the stream and reports an expired version as its one event.
        await response.prepare(request)
        await response.write(_line("ERROR", exc.status()))
        await response.write_eof()
        return response
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds if seconds is not None else None
    next_bookmark = loop.time() + backend.settings().bookmark_interval
    try:
        while True:
            clock = loop.time()
            if deadline is not None and clock >= deadline:
                break
            wait = _WATCH_TICK
            if deadline is not None:
                wait = min(wait, deadline - clock)
            if bookmarks:
                wait = min(wait, max(next_bookmark - clock, 0.0))
            try:
                item = await asyncio.wait_for(watch.queue.get(), wait)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return response  # the client went away
                if bookmarks and loop.time() >= next_bookmark:
                    next_bookmark = loop.time() + backend.settings().bookmark_interval
                    # Only sent with an empty queue: every change up to this version is out.
                    marker = {
                        "kind": target.resource.kind,
                        "apiVersion": target.resource.api_version,
                        "metadata": {"resourceVersion": str(backend.store.resource_version)},
                    }
                    await response.write(_line("BOOKMARK", marker))
                continue
            if item is None:  # cut: the API server went away mid-stream
                _reset(request)
                return response
            event_type, obj = item
            await response.write(_line(event_type, obj))
    except ConnectionError:
        return response
    finally:
        backend.store.unwatch(watch)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


def make_app(*, backend: Backend) -> web.Application:
    app = web.Application(middlewares=[_middleware], client_max_size=16 * 1024 * 1024)
    app[BACKEND] = backend
    app.router.add_route("GET", CONTROL_PATH, _control)
    app.router.add_route("POST", CONTROL_PATH, _control)
    app.router.add_route("*", "/{tail:.*}", _resource)
    return app


__all__ = ["BACKEND", "CONTROL_PATH", "PATCH_TYPES", "Backend", "make_app"]
