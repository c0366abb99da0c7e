"""Who may use the dropbox: bearer tokens, autosrectl's own short-lived tokens, share links.

`Access` answers `authenticate` (each request's ``Authorization`` header) and `claim_share`
(a share URL's secret) with a `Principal` / `SharedFile` or a `Denied` naming why; the tus
routes turn every denial into one uniform answer. Secrets are compared by their SHA-256 in
constant time against every record (no early exit that would time a prefix match).

Failures that could be guesses (a malformed or unknown secret) count against the client's
address (`FailureLimiter`); once its bucket is empty every attempt from it is `rate_limited`,
right or wrong. A known but expired or revoked token is not a guess and is not counted, so a
client retrying with an old token does not lock its address out.

Changes are written to the state file before they count: a token is usable, a revocation
holds and a share's download is taken only once it is on disk. One change at a time (an
asyncio lock): N parallel claims of a one-download link decrement it once, and exactly one
claim gets the file.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar

from autosred.dropbox.access import credentials
from autosred.dropbox.access.ratelimit import FailureLimiter
from autosred.dropbox.access.records import (
    VERSION,
    BadRecord,
    ShareInfo,
    ShareRecord,
    TokenInfo,
    TokenRecord,
    is_token_name,
)
from autosred.dropbox.access.statefile import StateFileError, read_state, write_state
from autosred.dropbox.storage import Quota

LOCAL_NAME = "@autosrectl"
"""The principal autosrectl acts as over the admin socket; no token name can take it (a token
name starts with a letter or digit). Files it uploads are owned by this name."""
MAX_LIFETIME = 100 * 365 * 86400.0
"""The longest lifetime a token or share may be given (longer is a typo)."""
SESSION_TTL = 12 * 3600.0
"""How long a token handed to autosrectl lives: long enough for a large put, short enough that
one left in a shell history is soon worthless."""
MAX_SESSIONS = 256
"""autosrectl's tokens are kept in memory only; the oldest go first beyond this."""
SHARE_GRACE = 24 * 3600.0
"""An expired or used-up share is kept this long after its expiry (a late click is told it
expired, not that it never was), then dropped from the state file."""

ACCESS_FILE = "access.json"


def access_file(state_dir: Path) -> Path:
    """Where the daemon keeps the access state: beside the dropbox's certificate, under
    state_dir (not under dropbox.root, which may be a shared data disk)."""
    return state_dir / "dropbox" / ACCESS_FILE


UNLIMITED = Quota()
"""No byte or file limit (a frozen value: sharing it is safe)."""

DenyReason = Literal[
    "missing", "malformed", "unknown", "expired", "revoked", "used_up", "rate_limited"
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: its files are those owned by `name` (all of them: `sees_all`)."""

    name: str
    read_only: bool
    quota: Quota
    sees_all: bool = False


@dataclass(frozen=True, slots=True)
class Denied:
    reason: DenyReason


@dataclass(frozen=True, slots=True)
class SharedFile:
    """What a claimed share link gives: one file of `owner`."""

    owner: str
    file_id: str


class AccessError(ValueError):
    """A refused change (the admin API answers it as a client error)."""


class TokenExists(AccessError):
    pass


class UnknownToken(AccessError):
    pass


class Access:
    """The dropbox's tokens and shares, kept in one state file. Build with `await Access.open`."""

    def __init__(
        self,
        *,
        path: Path,
        tokens: Iterable[TokenRecord],
        shares: Iterable[ShareRecord],
        clock: Callable[[], float],
        limiter: FailureLimiter,
        log: logging.Logger,
    ) -> None:
        self._path = path
        self._tokens = tuple(tokens)
        self._shares = tuple(shares)
        self._clock = clock
        self._limiter = limiter
        self._log = log
        self._sessions: dict[str, float] = {}  # digest -> expiry of autosrectl's tokens
        self._changing = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        limiter: FailureLimiter | None = None,
        log: logging.Logger | None = None,
    ) -> Access:
        """Load the state file (none yet: no tokens, no shares). A file that cannot be used
        raises StateFileError naming it and why."""
        state = await asyncio.to_thread(read_state, path)
        tokens: list[TokenRecord] = []
        shares: list[ShareRecord] = []
        if state is not None:
            try:
                if state.get("version") != VERSION:
                    raise BadRecord(f"version {state.get('version')!r} is not {VERSION}")
                tokens = [TokenRecord.from_json(raw) for raw in _list(state, "tokens")]
                shares = [ShareRecord.from_json(raw) for raw in _list(state, "shares")]
            except BadRecord as exc:
                raise StateFileError(f"{path}: {exc}") from exc
        return cls(
            path=path,
            tokens=tokens,
            shares=shares,
            clock=clock,
            limiter=limiter if limiter is not None else FailureLimiter(),
            log=log or logging.getLogger("autosred.dropbox.access"),
        )

    # -- authentication ----------------------------------------------------------------------

    def authenticate(self, authorization: str | None, peer: str) -> Principal | Denied:
        """Who the ``Authorization`` header's bearer token is, or why not."""
        if self._limiter.blocked(peer):
            return Denied("rate_limited")
        if authorization is None or not authorization.strip():
            return Denied("missing")
        token = credentials.bearer_of(authorization)
        if token is None:
            return self._guessed(peer, "malformed")
        offered = credentials.digest(token)
        now = self._clock()
        session = _find(self._sessions.items(), offered, key=lambda item: item[0])
        if session is not None:
            if session[1] <= now:
                return Denied("expired")
            return self.local_principal()
        record = _find(self._tokens, offered, key=lambda record: record.sha256)
        if record is None:
            return self._guessed(peer, "unknown")
        state = record.info.state(now)
        if state != "active":
            return Denied(state)
        return Principal(
            name=record.info.name, read_only=record.info.read_only, quota=record.info.quota
        )

    def _guessed(self, peer: str, reason: DenyReason) -> Denied:
        self._limiter.failed(peer)
        if self._limiter.blocked(peer):
            # Once per emptied bucket: at most one line per refill interval per address.
            self._log.warning(
                "dropbox.auth.rate_limited", extra={"fields": {"peer": peer, "reason": reason}}
            )
        return Denied(reason)

    def local_principal(self) -> Principal:
        """autosrectl over the admin socket: the socket's group is the trust boundary."""
        return Principal(name=LOCAL_NAME, read_only=False, quota=UNLIMITED, sees_all=True)

    def session_token(self, ttl: float = SESSION_TTL) -> tuple[str, float]:
        """A token for autosrectl's own requests to the dropbox (the local principal), kept
        in memory only; with the time it expires."""
        now = self._clock()
        live = {key: ends for key, ends in self._sessions.items() if ends > now}
        while len(live) >= MAX_SESSIONS:
            del live[min(live, key=live.__getitem__)]
        secret = credentials.new_token()
        expires = now + ttl
        live[credentials.digest(secret)] = expires
        self._sessions = live
        return secret, expires

    # -- tokens ------------------------------------------------------------------------------

    def tokens(self) -> list[TokenInfo]:
        return [record.info for record in self._tokens]

    def token_state(self, info: TokenInfo) -> str:
        return info.state(self._clock())

    async def create_token(
        self,
        name: str,
        *,
        quota: Quota = UNLIMITED,
        expires_in: float | None = None,
        read_only: bool = False,
    ) -> tuple[str, TokenInfo]:
        """A new token (its secret, shown once, and what is kept). A name whose token is
        active is refused; one whose token was revoked or expired is given a new token,
        and with it the files the name owns."""
        if not is_token_name(name):
            raise AccessError(
                f"{name!r} is not a token name (1-64 letters, digits, '.', '_', '-'; "
                "starting with a letter or digit)"
            )
        if expires_in is not None:
            _check_lifetime(expires_in, "a token's")
        async with self._changing:
            now = self._clock()
            if any(r.info.name == name and r.info.state(now) == "active" for r in self._tokens):
                raise TokenExists(f"a token named {name!r} exists (revoke it first)")
            secret = credentials.new_token()
            info = TokenInfo(
                name=name,
                created=now,
                expires=None if expires_in is None else now + expires_in,
                read_only=read_only,
                quota=quota,
            )
            record = TokenRecord(info=info, sha256=credentials.digest(secret))
            await self._commit((*self._tokens, record), self._shares)
        self._log.info(
            "dropbox.token.created",
            extra={
                "fields": {
                    "name": name,
                    "expires": info.expires,
                    "read_only": read_only,
                    "max_bytes": quota.max_bytes,
                    "max_files": quota.max_files,
                }
            },
        )
        return secret, info

    async def revoke(self, name: str) -> TokenInfo:
        """Revoke the active token named `name` (UnknownToken when there is none)."""
        async with self._changing:
            now = self._clock()
            tokens = list(self._tokens)
            for index, record in enumerate(tokens):
                if record.info.name == name and record.info.state(now) == "active":
                    revoked = replace(record, info=replace(record.info, revoked=True))
                    tokens[index] = revoked
                    break
            else:
                raise UnknownToken(f"no active token is named {name!r}")
            await self._commit(tokens, self._shares)
        self._log.info("dropbox.token.revoked", extra={"fields": {"name": name}})
        return revoked.info

    # -- shares ------------------------------------------------------------------------------

    def shares(self) -> list[ShareInfo]:
        return [record.info for record in self._shares]

    async def create_share(
        self, owner: str, file_id: str, *, expires_in: float, max_downloads: int | None = None
    ) -> tuple[str, ShareInfo]:
        """A share link's secret for one file (the caller checked that owner has it)."""
        _check_lifetime(expires_in, "a share's")
        if max_downloads is not None and max_downloads < 1:
            raise AccessError("a share allows at least one download")
        async with self._changing:
            now = self._clock()
            secret = credentials.new_share_secret()
            info = ShareInfo(
                owner=owner,
                file_id=file_id,
                created=now,
                expires=now + expires_in,
                remaining=max_downloads,
            )
            record = ShareRecord(info=info, sha256=credentials.digest(secret))
            await self._commit(self._tokens, (*self._kept_shares(now), record))
        self._log.info(
            "dropbox.share.created",
            extra={
                "fields": {
                    "owner": owner,
                    "id": file_id,
                    "expires": info.expires,
                    "max_downloads": max_downloads,
                }
            },
        )
        return secret, info

    async def claim_share(self, secret: str, peer: str) -> SharedFile | Denied:
        """Take one download of a share link. The count is on disk before this returns, so
        the caller streams only what was counted."""
        if self._limiter.blocked(peer):
            return Denied("rate_limited")
        if not credentials.is_share_secret(secret):
            return self._guessed(peer, "malformed")
        offered = credentials.digest(secret)
        async with self._changing:
            now = self._clock()
            shares = list(self._shares)
            record = _find(shares, offered, key=lambda record: record.sha256)
            if record is None:
                return self._guessed(peer, "unknown")
            if record.info.expires <= now:
                return Denied("expired")
            if record.info.remaining is not None:
                if record.info.remaining <= 0:
                    return Denied("used_up")
                shares[shares.index(record)] = record.claimed()
                await self._commit(self._tokens, shares)
        self._log.info(
            "dropbox.share.claimed",
            extra={
                "fields": {
                    "owner": record.info.owner,
                    "id": record.info.file_id,
                    "remaining": None
                    if record.info.remaining is None
                    else record.info.remaining - 1,
                }
            },
        )
        return SharedFile(owner=record.info.owner, file_id=record.info.file_id)

    def _kept_shares(self, now: float) -> list[ShareRecord]:
        return [r for r in self._shares if r.info.expires + SHARE_GRACE > now]

    # -- persistence -------------------------------------------------------------------------

    async def _commit(self, tokens: Iterable[TokenRecord], shares: Iterable[ShareRecord]) -> None:
        """Write the new state, then make it the one in force (a failed write changes nothing)."""
        tokens, shares = tuple(tokens), tuple(shares)
        state = {
            "version": VERSION,
            "tokens": [record.to_json() for record in tokens],
            "shares": [record.to_json() for record in shares],
        }
        await _settled(lambda: write_state(self._path, state))
        self._tokens, self._shares = tokens, shares


def _check_lifetime(seconds: float, whose: str) -> None:
    # NaN compares false with everything: unchecked it would make a token that never expires.
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_LIFETIME):
        raise AccessError(f"{whose} lifetime must be more than 0 and at most a century (seconds)")


def _find(records: Iterable[T], digest: str, *, key: Callable[[T], str]) -> T | None:
    """The record whose digest is `digest`, every one compared in constant time."""
    found: T | None = None
    for record in records:
        if hmac.compare_digest(key(record), digest):
            found = record
    return found


def _list(state: dict[str, object], key: str) -> list[object]:
    value = state.get(key, [])
    if not isinstance(value, list):
        raise BadRecord(f"{key} is not a list")
    return value


async def _settled(call: Callable[[], None]) -> None:
    """Run a blocking write in a thread; a cancelled caller still waits for it to end, so the
    state in memory never lags a file that was written."""
    task = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise
