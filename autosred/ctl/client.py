"""HTTP over the daemon's Unix socket with the standard library only.

httpx or aiohttp would cost more import time than the whole command takes; the admin API is
a handful of small requests and one NDJSON stream, which http.client does well.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autosred.admin.schema import NDJSON, ApiError, SchemaError

DEFAULT_TIMEOUT = 30.0


class Unreachable(Exception):
    """The daemon is not there (no socket, nobody listening, no permission) or went away."""


class DaemonError(Exception):
    """The daemon answered with an error envelope (or something that is not the admin API)."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message


def _hint(err: int | None) -> str:
    if err in (errno.EACCES, errno.EPERM):
        return "only root, the daemon's user and its admin group may connect"
    return "is the daemon running?"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float | None) -> None:
        # The host only fills the Host header; the socket path decides where we connect.
        super().__init__("localhost", timeout=timeout)
        self._path = path
        self.unix_socket: socket.socket | None = None
        """Kept past close(): with Connection: close, http.client hands the socket to the
        response and forgets it, and a reader on another thread is woken by shutting it down."""

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = self.unix_socket = sock


class AdminClient:
    """One connection per request: the daemon may restart between two commands."""

    def __init__(self, path: Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout

    def get(self, route: str) -> object:
        return self._call("GET", route, None)

    def post(self, route: str, body: dict[str, Any]) -> object:
        return self._call("POST", route, body)

    def delete(self, route: str) -> object:
        return self._call("DELETE", route, None)

    def stream(self, route: str, body: dict[str, Any]) -> Iterator[object]:
        """POST and yield each NDJSON record as it arrives (a plain JSON reply yields once).

        No read timeout: a wake may take minutes between two progress lines.
        """
        conn, response = self._open("POST", route, body, timeout=None)
        try:
            if not response.getheader("Content-Type", "").startswith(NDJSON):
                yield self._read_json(response)
                return
            while True:
                try:
                    raw = response.readline()
                except (OSError, http.client.HTTPException) as exc:
                    raise self._lost(exc) from exc
                if not raw:
                    return
                if raw.strip():
                    yield self._decode(raw, response.status)
        finally:
            conn.close()

    def follow(self, route: str, *, timeout: float) -> Lines:
        """GET an NDJSON stream that goes on until closed (``watch``); ``timeout`` bounds the
        wait for each line, so a daemon that hangs is noticed."""
        conn, response = self._open("GET", route, None, timeout=timeout)
        if not response.getheader("Content-Type", "").startswith(NDJSON):
            conn.close()
            raise DaemonError(
                response.status, "bad_response", f"{route}: expected an NDJSON stream"
            )
        return Lines(self, conn, response, timeout=timeout)

    def _call(self, method: str, route: str, body: dict[str, Any] | None) -> object:
        conn, response = self._open(method, route, body, timeout=self.timeout)
        try:
            return self._read_json(response)
        finally:
            conn.close()

    def _open(
        self, method: str, route: str, body: dict[str, Any] | None, *, timeout: float | None
    ) -> tuple[_UnixConnection, http.client.HTTPResponse]:
        conn = _UnixConnection(self.path, timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            reason = exc.strerror or str(exc)
            raise Unreachable(
                f"cannot reach autosred at {self.path}: {reason} ({_hint(exc.errno)})"
            ) from exc
        headers = {"Accept": "application/json", "Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, route, body=data, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._lost(exc) from exc
        if response.status >= 400:
            try:
                raise self._error(response)
            finally:
                conn.close()
        return conn, response

    def _read_json(self, response: http.client.HTTPResponse) -> object:
        try:
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from exc
        return self._decode(raw, response.status)

    def _decode(self, raw: bytes, status: int) -> object:
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise DaemonError(
                status, "bad_response", f"the daemon sent invalid JSON: {exc}"
            ) from exc

    def _error(self, response: http.client.HTTPResponse) -> DaemonError:
        raw = response.read()
        try:
            error = ApiError.from_json(json.loads(raw))
        except (ValueError, SchemaError):
            # Not our envelope: something else listens on this socket, or a proxy answered.
            text = raw.decode(errors="replace").strip()[:200]
            return DaemonError(response.status, "http_error", f"HTTP {response.status}: {text}")
        return DaemonError(response.status, error.type, error.message)

    def _lost(self, exc: BaseException, *, timeout: float | None = None) -> Unreachable:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout or self.timeout:g} s"
        else:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Unreachable(f"lost connection to autosred at {self.path}: {reason}")


class Lines:
    """The records of an NDJSON answer as they arrive. ``close`` may come from another thread
    (the view's loop stopping its reader): it shuts the socket down, so a blocked read ends."""

    def __init__(
        self,
        client: AdminClient,
        conn: _UnixConnection,
        response: http.client.HTTPResponse,
        *,
        timeout: float,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._conn = conn
        self._response = response
        self._lock = threading.Lock()
        self._closed = False

    def __iter__(self) -> Iterator[object]:
        while True:
            try:
                raw = self._response.readline()
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # ValueError: read after close() from another thread.
                if self._closed:
                    return
                raise self._client._lost(exc, timeout=self._timeout) from exc
            if not raw:
                return
            if raw.strip():
                yield self._client._decode(raw, self._response.status)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sock = self._conn.unix_socket
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already gone
            self._response.close()
            self._conn.close()
