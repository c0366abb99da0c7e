"""The MCP host: one Streamable HTTP server per tool group, at ``/mcp/<group.name>``.

Mounted on the api listener's app by the daemon as a middleware in front of the proxy's own
(``middleware``), so /mcp requests never meet the proxy's token check, error envelope or body
limit, and every other request passes through untouched. Each group gets the SDK's low-level
``Server`` (``server.tool_server``) behind its ``StreamableHTTPSessionManager``, which speaks
every revision the SDK does: the initialize handshake with sessions (2025-06-18, 2025-11-25
and older) and the 2026-07-28 single exchange (a request whose ``MCP-Protocol-Version``
header names it). Answers are JSON, not SSE: the tools send no progress or server requests,
and JSON costs the daemon less per call.

GET (the standalone SSE stream for server-initiated messages) is answered 405, as the
specification lets a server that sends none: a stream held open by every connected client
would hold every daemon stop for the whole ``shutdown.grace``. So the drain waits only for
tool calls in progress; then ``close`` ends the sessions and closes the groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from autosred.clienttokens import ClientTokens
from autosred.config import McpSettings
from autosred.mcp.host.asgi import AsgiExchange, ResponseCut
from autosred.mcp.host.authority import HostPolicy
from autosred.mcp.host.calls import CallLog
from autosred.mcp.host.guard import Refusal, RequestGuard
from autosred.mcp.host.server import CLIENT_STATE_KEY, tool_server
from autosred.mcp.tools import SessionAware, ToolGroup
from autosred.metrics import Metrics

PREFIX = "/mcp/"
_SEGMENT = re.compile(r"[a-z][a-z0-9_-]*")
MAX_SESSIONS = 1024
"""Sessions open at once per server (a client process holds one per server it uses); past
it the SDK answers 503 until one ends or idles out (30 minutes without a request)."""

STOPPING_WRITE_TIMEOUT = 1.0
"""Seconds to tell a call cut at the end of the grace that the daemon is stopping."""
INTERNAL_ERROR = -32603

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class McpHost:
    """The servers of ``groups``; ``start`` before the first request, ``close`` at stop."""

    def __init__(
        self,
        *,
        groups: Sequence[ToolGroup],
        settings: McpSettings,
        tokens: ClientTokens,
        listen_hosts: Iterable[str],
        metrics: Metrics,
        log: logging.Logger,
    ) -> None:
        self._log = log
        self._groups = list(groups)
        self._by_name = {group.name: group for group in self._groups}
        names = [group.name for group in self._groups]
        for name in names:
            if not _SEGMENT.fullmatch(name) or names.count(name) > 1:
                raise ValueError(f"tool group names must be unique path segments: {names}")
        self._calls = CallLog(metrics=metrics, log=log)
        self._tokens = tokens
        self._principals: dict[str, AuthenticatedUser] = {}
        self._guard = RequestGuard(
            hosts=HostPolicy(listen_hosts=listen_hosts, allowed=settings.allowed_hosts),
            tokens=tokens,
            max_body_bytes=settings.max_body_bytes,
        )
        self._managers = {
            group.name: StreamableHTTPSessionManager(
                tool_server(group, calls=self._calls, log=log),
                json_response=True,
                max_request_body_size=settings.max_body_bytes,
                max_sessions=MAX_SESSIONS,
            )
            for group in self._groups
        }
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        self.middleware = self._make_middleware()

    @property
    def paths(self) -> list[str]:
        """The endpoints served, e.g. ``/mcp/fetch``."""
        return [PREFIX + name for name in self._managers]

    @property
    def servers(self) -> dict[str, str]:
        """Each server's name and path (``{"fetch": "/mcp/fetch"}``), as the admin API's
        status tells autosrectl."""
        return {name: PREFIX + name for name in self._managers}

    # --------------------------------------------------------------------------- lifetime

    async def start(self) -> None:
        """Start the session managers (each holds its sessions' tasks until ``close``)."""
        started = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run_managers(started), name="mcp-host")
        await started

    async def _run_managers(self, started: asyncio.Future[None]) -> None:
        # The SDK's managers are anyio task groups, which must be entered and left in one
        # task: this one, alive from start to close.
        try:
            async with contextlib.AsyncExitStack() as stack:
                for manager in self._managers.values():
                    await stack.enter_async_context(manager.run())
                started.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            elif not isinstance(exc, asyncio.CancelledError):
                # Every server is gone with it: requests get 500 until the daemon restarts.
                self._log.exception("mcp.host_failed")
            raise

    async def close(self) -> None:
        """End every session (their servers' tasks are cancelled: a call still running gets
        a JSON-RPC error), then close the groups. Once; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._runner is not None:
            try:
                await self._runner
            except Exception:
                self._log.exception("mcp.host_stop_failed")
            self._runner = None
        for group in self._groups:
            try:
                await group.close()
            except Exception:
                self._log.exception(
                    "mcp.group_close_failed", extra={"fields": {"group": group.name}}
                )
        self._log.info("mcp.stopped", extra={"fields": {"servers": list(self._managers)}})

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        """For the app's ``cleanup_ctx``: started with the app, closed with it (after the
        daemon's drain of the requests in flight)."""
        await self.start()
        yield
        await self.close()

    # ---------------------------------------------------------------------------- serving

    def _make_middleware(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith(PREFIX) or request.path == PREFIX[:-1]:
                return await self._serve(request)
            return await handler(request)

        return middleware

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        refusal = self._guard.check_origin(request)
        if refusal is not None:
            return self._refuse(refusal)
        client, refusal = self._guard.check_client(request)
        if refusal is not None:
            return self._refuse(refusal)
        name = request.path[len(PREFIX) :]
        manager = self._managers.get(name)
        if manager is None:
            return self._refuse(
                Refusal(
                    404,
                    "unknown_server",
                    f"No MCP server at {request.path}; served here: "
                    f"{', '.join(self.paths) or 'none (all disabled in the mcp section)'}.",
                )
            )
        if request.method not in ("POST", "DELETE"):
            refusal = Refusal(
                405,
                "method",
                f"{request.method} is not served at {request.path}: POST a JSON-RPC "
                "message (this server sends nothing unasked, so it has no GET stream).",
                headers=(("Allow", "POST, DELETE"),),
            )
            # A client's GET for the stream is the protocol's question, and 405 its answer
            # (Codex asks once per session): not counted as a refusal.
            return refusal.response() if request.method == "GET" else self._refuse(refusal)
        body = await self._guard.read_body(request)
        if isinstance(body, Refusal):
            return self._refuse(body)
        exchange = AsgiExchange(
            request, body, state={CLIENT_STATE_KEY: client}, user=self._principal(client)
        )
        try:
            response = await exchange.run(manager.handle_request)
        except asyncio.CancelledError:
            # The client left, or the daemon's drain ended this call at the end of the
            # grace: the latter is told so, instead of finding the connection cut.
            transport = request.transport
            if not exchange.answered and transport is not None and not transport.is_closing():
                await _tell_stopping(request, body)
            raise
        except ConnectionError:
            raise  # the client left
        except Exception as exc:
            self._log.exception("mcp.host_crashed", extra={"fields": {"path": request.path}})
            if isinstance(exc, ResponseCut):
                raise  # begun: aiohttp closes the connection
            return Refusal(500, "crashed", "internal error in the daemon; see its log").response()
        if request.method == "DELETE" and response.status < 300:
            await self._session_ended(name, request.headers.get(MCP_SESSION_ID_HEADER))
        return response

    async def _session_ended(self, name: str, session: str | None) -> None:
        """Tell a group that keeps per-session state that the client ended a session (the
        SDK has closed it: its id now answers 404)."""
        group = self._by_name[name]
        if session is None or not isinstance(group, SessionAware):
            return
        try:
            await group.session_ended(session)
        except Exception:
            self._log.exception("mcp.session_end_failed", extra={"fields": {"group": name}})

    def _principal(self, client: str) -> AuthenticatedUser | None:
        """With client tokens, the token's name as the SDK's principal: a session then
        serves only the client that opened it (another token gets 404, as for a session
        that does not exist)."""
        if not self._tokens.required:
            return None
        principal = self._principals.get(client)
        if principal is None:
            principal = AuthenticatedUser(AccessToken(token="", client_id=client, scopes=[]))
            self._principals[client] = principal
        return principal

    def _refuse(self, refusal: Refusal) -> web.Response:
        self._calls.refused(refusal.reason)
        return refusal.response()


async def _tell_stopping(request: web.Request, body: bytes) -> None:
    """Answer 503 with the JSON-RPC error for the request's id, briefly and best effort."""
    try:
        message = json.loads(body)
        request_id = message.get("id") if isinstance(message, dict) else None
    except (ValueError, RecursionError):
        request_id = None
    if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
        request_id = None
    answer = {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {
            "code": INTERNAL_ERROR,
            "message": "The daemon is stopping; call again once it is back.",
        },
    }
    response = web.StreamResponse(status=503, headers={"Content-Type": "application/json"})
    try:
        async with asyncio.timeout(STOPPING_WRITE_TIMEOUT):
            await response.prepare(request)
            await response.write(json.dumps(answer).encode())
            await response.write_eof()
    except (ConnectionError, TimeoutError, RuntimeError):
        pass  # the client is gone or too slow: nobody left to tell
