"""Who a request acts as: its bearer token, resolved by the dropbox's access module.

Every denial but one is the same 401 (with `WWW-Authenticate: Bearer`): a client learns
that its token is no good, not which of malformed, unknown, expired or revoked it is (only
the access module's log says). Rate-limited addresses get 429. A read-only principal may
read (GET, HEAD, the listing) and nothing else (403).
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from autosred.dropbox.access import Denied, Principal, SharedFile
from autosred.dropbox.routes.answers import Refusal
from autosred.dropbox.routes.headers import BadHeader, single

CHALLENGE = 'Bearer realm="autosred-dropbox"'


class Gatekeeper(Protocol):
    """What the routes ask of the access module (autosred.dropbox.access.Access fits)."""

    def authenticate(self, authorization: str | None, peer: str) -> Principal | Denied: ...

    async def claim_share(self, secret: str, peer: str) -> SharedFile | Denied: ...


def peer_of(request: web.Request) -> str:
    return request.remote or "unknown"


def principal_of(request: web.Request, gatekeeper: Gatekeeper, *, writes: bool) -> Principal:
    try:
        header = single(request.headers, "Authorization")
    except BadHeader as exc:
        raise Refusal(400, "bad_request", str(exc)) from exc
    found = gatekeeper.authenticate(header, peer_of(request))
    if isinstance(found, Denied):
        raise denial(found)
    if writes and found.read_only:
        raise Refusal(403, "read_only", "this token may only read")
    return found


def denial(denied: Denied) -> Refusal:
    if denied.reason == "rate_limited":
        return Refusal(
            429,
            "rate_limited",
            "too many failed attempts from this address; wait before trying again",
        )
    message = (
        "a bearer token is required (Authorization: Bearer TOKEN)"
        if denied.reason == "missing"
        else "the bearer token is not valid"
    )
    return Refusal(401, "unauthorized", message, headers={"WWW-Authenticate": CHALLENGE})


def owner_scope(principal: Principal) -> str | None:
    """The owner whose ids a principal sees (None: every owner's)."""
    return None if principal.sees_all else principal.name
