"""The checks every /mcp request passes before an MCP server sees it, in this order:

1. ``Host`` names this listener, else 421 (Misdirected Request);
2. ``Origin``, when sent, names it too, else 403 (both: the DNS-rebinding guard, see
   ``authority``);
3. with ``api.clients`` configured, one of the tokens (as on the model APIs), else 401 with
   ``WWW-Authenticate: Bearer``; checked before the server name, so that a client without a
   token learns nothing of what is served;
4. the body is at most ``mcp.max_body_bytes``, else 413 (by Content-Length before reading,
   and while reading a chunked body).

Refusals are JSON-RPC error objects (``id`` null), as the SDK answers its own HTTP-level
refusals, so an MCP client can show the message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from autosred.clienttokens import ClientTokens
from autosred.mcp.host.authority import (
    Authority,
    HostPolicy,
    normalise_host,
    parse_host,
    parse_origin,
)

INVALID_REQUEST = -32600
REALM = "autosred"


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    """The metrics label: host, origin, token, too_large, bad_body, unknown_server, method."""
    message: str
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False
    """The connection ends with the answer (a body left unread cannot be skipped safely)."""

    def response(self) -> web.Response:
        body = {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": INVALID_REQUEST, "message": self.message},
        }
        response = web.Response(
            status=self.status, text=json.dumps(body), content_type="application/json"
        )
        for name, value in self.headers:
            response.headers[name] = value
        if self.close:
            response.force_close()
        return response


class RequestGuard:
    def __init__(self, *, hosts: HostPolicy, tokens: ClientTokens, max_body_bytes: int) -> None:
        self._hosts = hosts
        self._tokens = tokens
        self.max_body_bytes = max_body_bytes

    def check_origin(self, request: web.Request) -> Refusal | None:
        """Host and Origin (steps 1 and 2)."""
        local = _local_authority(request)
        host = request.headers.get("Host")
        authority = parse_host(host) if host is not None else None
        if authority is None or local is None or not self._hosts.allows(authority, local=local):
            return Refusal(
                421,
                "host",
                "This MCP server answers only to its own address in the Host header "
                "(DNS-rebinding guard); add the name to mcp.allowed_hosts to use it.",
            )
        origin = request.headers.get("Origin")
        if origin is not None:
            from_origin = parse_origin(origin)
            if from_origin is None or not self._hosts.allows(from_origin, local=local):
                return Refusal(
                    403,
                    "origin",
                    "Requests from web pages of another origin are refused (DNS-rebinding guard).",
                )
        return None

    def check_client(self, request: web.Request) -> tuple[str, Refusal | None]:
        """The client's name ("-" when no tokens are configured) or a 401 (step 3)."""
        if not self._tokens.required:
            return "-", None
        name = self._tokens.match(request.headers)
        if name is not None:
            return name, None
        offered = "Authorization" in request.headers or "x-api-key" in request.headers
        challenge = f'Bearer realm="{REALM}"'
        if offered:
            challenge += ', error="invalid_token"'
        return "-", Refusal(
            401,
            "token",
            "missing or invalid client token (Authorization: Bearer, as for the model APIs)",
            headers=(("WWW-Authenticate", challenge),),
        )

    async def read_body(self, request: web.Request) -> bytes | Refusal:
        """The body, at most ``max_body_bytes`` (step 4)."""
        too_large = Refusal(
            413,
            "too_large",
            f"MCP request bodies are limited to {self.max_body_bytes} bytes (mcp.max_body_bytes).",
            close=True,
        )
        length = request.content_length
        if length is not None and length > self.max_body_bytes:
            return too_large
        chunks = []
        size = 0
        try:
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > self.max_body_bytes:
                    return too_large
                chunks.append(chunk)
        except RequestPayloadError as exc:
            # A corrupt gzip/deflate body: the rest of it cannot be read either.
            return Refusal(400, "bad_body", f"request body could not be read: {exc}", close=True)
        return b"".join(chunks)


def _local_authority(request: web.Request) -> Authority | None:
    """The address this request's connection arrived on."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        return None
    return Authority(normalise_host(str(sockname[0])), int(sockname[1]))
