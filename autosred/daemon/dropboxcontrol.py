"""The admin API's dropbox methods over the daemon's dropbox parts (admin never imports
dropbox): tokens and autosrectl's session from the Access, translated to wire types, each
refusal to the admin envelope's kind."""

from __future__ import annotations

import time
from collections.abc import Callable

from autosred.admin.control import ControlError
from autosred.admin.schema import (
    DropboxSession,
    DropboxToken,
    DropboxTokenCreated,
    DropboxTokenRequest,
)
from autosred.dropbox.access import Access, AccessError, TokenExists, TokenInfo, UnknownToken
from autosred.dropbox.cert import DropboxTls
from autosred.dropbox.storage import Quota

NOT_ENABLED = "the dropbox is not enabled (dropbox.enabled in the config)"


class DropboxControl:
    """What `DaemonControl` answers for /v1/dropbox/*; the parts are looked up on each call
    (they exist only once the dropbox listener started)."""

    def __init__(
        self,
        *,
        tls: Callable[[], DropboxTls | None],
        access: Callable[[], Access | None],
        listen: Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tls = tls
        self._access = access
        self._listen = listen
        self._clock = clock

    def _parts(self) -> tuple[DropboxTls, Access]:
        tls, access = self._tls(), self._access()
        if tls is None or access is None:
            raise ControlError.of("not_found", NOT_ENABLED)
        return tls, access

    async def tokens(self) -> list[DropboxToken]:
        _, access = self._parts()
        return [_token(info, access.token_state(info)) for info in access.tokens()]

    async def create_token(self, request: DropboxTokenRequest) -> DropboxTokenCreated:
        _, access = self._parts()
        for key, value in (("max_bytes", request.max_bytes), ("max_files", request.max_files)):
            if value is not None and value < 1:
                raise ControlError.of("bad_request", f"{key} must be at least 1 (or null)")
        try:
            secret, info = await access.create_token(
                request.name,
                quota=Quota(max_bytes=request.max_bytes, max_files=request.max_files),
                expires_in=request.expires_seconds,
                read_only=request.read_only,
            )
        except TokenExists as exc:
            raise ControlError.of("conflict", str(exc)) from exc
        except AccessError as exc:
            raise ControlError.of("bad_request", str(exc)) from exc
        return DropboxTokenCreated(token=secret, info=_token(info, access.token_state(info)))

    async def revoke_token(self, name: str) -> DropboxToken:
        _, access = self._parts()
        try:
            info = await access.revoke(name)
        except UnknownToken as exc:
            raise ControlError.of("not_found", str(exc)) from exc
        return _token(info, access.token_state(info))

    async def session(self) -> DropboxSession:
        tls, access = self._parts()
        token, expires = access.session_token()
        return DropboxSession(
            url=f"https://{self._listen()}",
            fingerprint=tls.fingerprint,
            pem=tls.pem,
            token=token,
            expires=expires,
        )


def _token(info: TokenInfo, state: str) -> DropboxToken:
    return DropboxToken(
        name=info.name,
        state=state,  # type: ignore[arg-type]  # TokenInfo.state's values are the wire's
        created=info.created,
        expires=info.expires,
        read_only=info.read_only,
        max_bytes=info.quota.max_bytes,
        max_files=info.quota.max_files,
    )
