"""The admin API's dropbox methods over the daemon's dropbox parts (admin never imports
dropbox): tokens, shares and autosrectl's session from the Access, files from the dropbox
service, translated to wire types, each refusal to the admin envelope's kind."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from autosred.admin.control import ControlError
from autosred.admin.schema import (
    DropboxFile,
    DropboxSession,
    DropboxShare,
    DropboxShareRequest,
    DropboxToken,
    DropboxTokenCreated,
    DropboxTokenRequest,
)
from autosred.dropbox.access import Access, AccessError, TokenExists, TokenInfo, UnknownToken
from autosred.dropbox.cert import DropboxTls
from autosred.dropbox.storage import Entry, NotFound, Quota, UploadBusy

NOT_ENABLED = "the dropbox is not enabled (dropbox.enabled in the config)"
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


class Files(Protocol):
    """What the admin's view needs of the dropbox service (``owner=None``: every owner)."""

    async def entries(self, owner: str | None) -> list[Entry]: ...

    async def remove(self, owner: str | None, file_id: str) -> Entry: ...

    async def share_target(self, file_id: str) -> Entry: ...


class DropboxControl:
    """What `DaemonControl` answers for /v1/dropbox/*; the parts are looked up on each call
    (they exist only once the dropbox listener started)."""

    def __init__(
        self,
        *,
        tls: Callable[[], DropboxTls | None],
        access: Callable[[], Access | None],
        files: Callable[[], Files | None],
        listen: Callable[[], str],
        hostnames: Callable[[], Sequence[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tls = tls
        self._access = access
        self._files = files
        self._listen = listen
        self._hostnames = hostnames
        self._clock = clock

    def _only_access(self) -> Access:
        access = self._access()
        if access is None:
            raise ControlError.of("not_found", NOT_ENABLED)
        return access

    def _parts(self) -> tuple[DropboxTls, Access]:
        tls, access = self._tls(), self._access()
        if tls is None or access is None:
            raise ControlError.of("not_found", NOT_ENABLED)
        return tls, access

    async def tokens(self) -> list[DropboxToken]:
        access = self._only_access()
        return [_token(info, access.token_state(info)) for info in access.tokens()]

    async def create_token(self, request: DropboxTokenRequest) -> DropboxTokenCreated:
        access = self._only_access()
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
        access = self._only_access()
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

    def _service(self) -> Files:
        files = self._files()
        if files is None:
            raise ControlError.of("not_found", NOT_ENABLED)
        return files

    async def files(self) -> list[DropboxFile]:
        return [_file(entry) for entry in await self._service().entries(None)]

    async def remove(self, file_id: str) -> DropboxFile:
        try:
            entry = await self._service().remove(None, file_id)
        except NotFound as exc:
            raise ControlError.of("not_found", f"no file or upload has id {file_id!r}") from exc
        except UploadBusy as exc:
            raise ControlError.of(
                "conflict", f"{file_id} is being uploaded to right now; try again"
            ) from exc
        return _file(entry)

    async def share(self, request: DropboxShareRequest) -> DropboxShare:
        access = self._only_access()
        try:
            entry = await self._service().share_target(request.id)
        except NotFound as exc:
            raise ControlError.of(
                "not_found", f"no finished file has id {request.id!r} (autosrectl dropbox ls)"
            ) from exc
        try:
            secret, info = await access.create_share(
                entry.owner,
                entry.id,
                expires_in=request.expires_seconds,
                max_downloads=request.max_downloads,
            )
        except AccessError as exc:
            raise ControlError.of("bad_request", str(exc)) from exc
        return DropboxShare(
            url=f"{share_origin(self._hostnames(), self._listen())}/s/{secret}",
            id=entry.id,
            owner=entry.owner,
            expires=info.expires,
            max_downloads=request.max_downloads,
        )


def share_origin(hostnames: Sequence[str], bound: str) -> str:
    """``https://HOST:PORT`` for links handed to others: HOST is the first of
    ``dropbox.tls.hostnames`` (the name the certificate is for), else the listen address,
    else (a wildcard listen) the host's name; PORT is the port the listener bound."""
    host, _, port = bound.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if hostnames:
        host = hostnames[0]
    elif host in _WILDCARDS:
        host = socket.gethostname()
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _file(entry: Entry) -> DropboxFile:
    return DropboxFile(
        id=entry.id,
        name=entry.name,
        size=entry.length,
        sha256=entry.sha256,
        complete=entry.complete,
        owner=entry.owner,
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
