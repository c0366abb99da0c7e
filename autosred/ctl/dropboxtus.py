"""The client side of the dropbox's HTTP: tus 1.0.0 uploads and ranged downloads, over httpx.

Small on purpose: creation, HEAD for the offset, PATCH chunks each with a sha256
``Upload-Checksum`` (so a chunk damaged on the way is refused, 460, and sent again rather than
stored), plain GET with Range. Every request carries the bearer token, and only ever to the
dropbox's own origin: a Location elsewhere is refused before anything is sent to it.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote

import httpx

TUS_VERSION = "1.0.0"
PIECE = 256 * 1024
"""How often, in bytes, the progress display hears of a chunk being sent."""
TIMEOUT = httpx.Timeout(60.0, connect=15.0)

Advance = Callable[[int], None]


class DropboxUnreachable(Exception):
    """No connection to the dropbox (refused, timed out, TLS failed)."""

    def __init__(self, exc: httpx.TransportError, origin: httpx.URL) -> None:
        super().__init__(f"cannot reach the dropbox at {origin}: {exc or type(exc).__name__}")
        # A server that wants a client certificate and got none ends the connection right
        # after the handshake (TLS 1.3: an alert the client reads as a disconnect; 1.2: the
        # alert itself).
        self.closed_after_handshake = isinstance(exc, httpx.RemoteProtocolError) or (
            "certificate required" in str(exc).lower()
        )


class DropboxRefused(Exception):
    """The dropbox answered with an error status; the message has its status and text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UploadGone(DropboxRefused):
    """The upload URL names no upload any more (finished, expired or removed): start again."""


class OffsetConflict(DropboxRefused):
    """The dropbox holds another offset than the one we sent from (409): ask it again."""


class ChecksumRefused(DropboxRefused):
    """The dropbox received a chunk whose bytes do not match its checksum (460)."""


@dataclass(frozen=True)
class RemoteFile:
    id: str
    name: str
    size: int
    sha256: str
    complete: bool


class DropboxHttp:
    """One dropbox origin, one bearer token, one connection pool."""

    def __init__(self, base_url: str, token: str, context: ssl.SSLContext) -> None:
        self.origin = httpx.URL(base_url).copy_with(path="/", query=None, fragment=None)
        self._client = httpx.Client(
            base_url=self.origin,
            verify=context,
            timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {token}"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DropboxHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # tus

    def create(self, length: int, name: str) -> str:
        """A new upload of `length` bytes named `name`; its absolute URL."""
        metadata = "filename " + base64.b64encode(name.encode("utf-8")).decode("ascii")
        response = self._send(
            "POST",
            "/files/",
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Upload-Length": str(length),
                "Upload-Metadata": metadata,
            },
        )
        if response.status_code != 201:
            raise _refused(response, "creating the upload")
        location = response.headers.get("Location")
        if not location:
            raise DropboxRefused(201, "the dropbox created an upload but sent no Location")
        return str(self.own_url(location))

    def offset(self, url: str) -> int:
        """How many bytes of the upload at `url` the dropbox holds (HEAD)."""
        response = self._send("HEAD", self.own_url(url), headers={"Tus-Resumable": TUS_VERSION})
        if response.status_code in (404, 410):
            raise UploadGone(response.status_code, f"the upload at {url} is gone")
        if response.status_code != 200:
            raise _refused(response, "asking for the upload's offset")
        return _count(response, "Upload-Offset")

    def patch(self, url: str, offset: int, chunk: bytes, advance: Advance) -> int:
        """Send `chunk` at `offset`; the new offset. `advance` hears of each piece sent."""
        digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode("ascii")
        response = self._send(
            "PATCH",
            self.own_url(url),
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(len(chunk)),
                "Upload-Offset": str(offset),
                "Upload-Checksum": f"sha256 {digest}",
            },
            content=_pieces(chunk, advance),
        )
        if response.status_code == 204:
            return _count(response, "Upload-Offset")
        if response.status_code == 409:
            raise OffsetConflict(409, "the dropbox holds another offset")
        if response.status_code == 460:
            raise ChecksumRefused(460, "the dropbox received a chunk that fails its checksum")
        if response.status_code in (404, 410):
            raise UploadGone(response.status_code, f"the upload at {url} is gone")
        raise _refused(response, "sending a chunk")

    # files

    def files(self) -> list[RemoteFile]:
        response = self._send("GET", "/files/?json")
        if response.status_code != 200:
            raise _refused(response, "listing the files")
        try:
            return [_remote(entry) for entry in response.json()]
        except (ValueError, TypeError, KeyError) as exc:
            raise DropboxRefused(200, f"the dropbox sent a listing we cannot read: {exc}") from exc

    def download(self, file_id: str, out: BinaryIO, start: int, advance: Advance) -> int:
        """Append the file's bytes from `start` to `out` (Range); the offset it started from.

        No If-Range: an id never names other bytes (a file is never rewritten in place). An
        answer of 200 instead of 206 (no range served) starts again at 0, and `out` is
        truncated here.
        """
        headers = {}
        if start > 0:
            headers["Range"] = f"bytes={start}-"
        path = f"/files/{quote(file_id, safe='')}"
        try:
            with self._client.stream("GET", path, headers=headers) as response:
                if response.status_code == 416 and start > 0:
                    return start  # the part already holds the whole file
                if response.status_code not in (200, 206):
                    response.read()
                    raise _refused(response, "downloading")
                began = start if response.status_code == 206 else 0
                if began == 0:
                    out.seek(0)
                    out.truncate()
                for data in response.iter_bytes(PIECE):
                    out.write(data)
                    advance(len(data))
                return began
        except httpx.TransportError as exc:
            raise DropboxUnreachable(exc, self.origin) from exc

    # plumbing

    def own_url(self, url: str | httpx.URL) -> httpx.URL:
        """`url` resolved against the dropbox; refused unless it is on the dropbox's origin."""
        resolved = self.origin.join(url)
        if (resolved.scheme, resolved.host, resolved.port) != (
            self.origin.scheme,
            self.origin.host,
            self.origin.port,
        ):
            raise DropboxRefused(0, f"the dropbox pointed at another server: {resolved}")
        return resolved

    def _send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: dict[str, str] | None = None,
        content: Iterator[bytes] | None = None,
    ) -> httpx.Response:
        try:
            return self._client.request(method, url, headers=headers, content=content)
        except httpx.TransportError as exc:
            raise DropboxUnreachable(exc, self.origin) from exc


def _pieces(chunk: bytes, advance: Advance) -> Iterator[bytes]:
    view = memoryview(chunk)
    for start in range(0, len(view), PIECE):
        piece = view[start : start + PIECE]
        yield bytes(piece)
        advance(len(piece))


def _count(response: httpx.Response, header: str) -> int:
    value = response.headers.get(header, "")
    if not value.isascii() or not value.isdigit():
        raise DropboxRefused(response.status_code, f"the dropbox sent a bad {header}: {value!r}")
    return int(value)


def _remote(entry: object) -> RemoteFile:
    if not isinstance(entry, dict):
        raise TypeError("an entry is not an object")
    return RemoteFile(
        id=str(entry["id"]),
        name=str(entry.get("name") or ""),
        size=int(entry["size"]),
        sha256=str(entry.get("sha256") or ""),
        complete=bool(entry.get("complete", True)),
    )


def _refused(response: httpx.Response, doing: str) -> DropboxRefused:
    text = " ".join(response.text.split())[:200] if response.text else ""
    reason = f": {text}" if text else ""
    return DropboxRefused(
        response.status_code,
        f"the dropbox answered {response.status_code} {response.reason_phrase} "
        f"when {doing}{reason}",
    )
