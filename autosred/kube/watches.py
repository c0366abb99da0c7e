"""Watches: list, then follow changes, each watch request streaming on a thread of its own.

The official client's watch is a blocking read of a chunked response. Each request holds a
thread for as long as it streams and hands each event to the loop through an asyncio queue.
Closing a watch shuts its socket down, which ends the blocked read at once instead of after
its timeout. (The asyncio port, kubernetes_asyncio, lags the official client's releases and is
another dependency; the facade keeps the choice in one place.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from autosred.kube.calls import JSON, RetryPolicy
from autosred.kube.errors import KubeGone, KubeUnavailable, status_error, translate

WATCH_SECONDS = 240
"""Server-side length of one watch request; the stream then reconnects from where it was."""


@dataclass(frozen=True)
class WatchEvent:
    """One change of a watched collection.

    ``type``: ADDED, MODIFIED, DELETED as the API server sends them; RESET (forget what you
    know: a list follows, as ADDED events) and SYNCED (the list is complete; what follows are
    live changes). BOOKMARKs are swallowed.
    """

    type: str
    object: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """A collection as listed, and the resourceVersion a watch of it continues from."""

    items: list[JSON]
    resource_version: str | None


class Watches:
    """The watch streams of one client; ``close`` ends every one of them."""

    def __init__(
        self, *, server: str, log: logging.Logger, timeout: float, retry: RetryPolicy
    ) -> None:
        self._server = server
        self._log = log
        self._timeout = timeout
        self._retry = retry
        self._open: set[_WatchThread] = set()

    async def stream(
        self,
        what: str,
        *,
        listing: Callable[[], Awaitable[Listing]],
        watch: Callable[..., Any],
    ) -> AsyncGenerator[WatchEvent, None]:
        """``listing()``, then ``watch(**kw)`` requests for as long as the caller iterates.

        Reconnects when a watch ends; lists again (RESET) when the resourceVersion expired.
        Raises KubeUnavailable when the API server stays unreachable beyond the retry budget,
        and other KubeErrors (forbidden, invalid selector) at once.
        """
        resource_version: str | None = None
        first = True
        while True:
            if resource_version is None:
                listed = await listing()
                if not first:
                    yield WatchEvent("RESET")
                first = False
                for item in listed.items:
                    yield WatchEvent("ADDED", item)
                yield WatchEvent("SYNCED")
                resource_version = listed.resource_version
            thread = self._open_thread(watch, resource_version, what=f"{what} watch")
            try:
                async for event in self._events(thread):
                    metadata = event.object.get("metadata") or {}
                    if metadata.get("resourceVersion"):
                        resource_version = metadata["resourceVersion"]
                    if event.type != "BOOKMARK":
                        yield event
            except KubeGone:
                self._log.info("kube.watch_expired", extra={"fields": {"kind": what}})
                resource_version = None
            finally:
                thread.close()

    def close(self) -> None:
        for thread in list(self._open):
            thread.close()

    async def _events(self, thread: _WatchThread) -> AsyncIterator[WatchEvent]:
        """One watch request's events; retries the connection within the budget."""
        delays = self._retry.delays()
        deadline = time.monotonic() + self._retry.budget
        while True:
            item = await thread.queue.get()
            if isinstance(item, WatchEvent):
                deadline = time.monotonic() + self._retry.budget
                if item.type == "ERROR":
                    raise status_error(item.object, thread.what)
                yield item
                continue
            if item is None:
                return  # the server ended this watch (timeoutSeconds): reconnect
            error = translate(item, thread.what, self._server)
            if not isinstance(error, KubeUnavailable) or time.monotonic() >= deadline:
                raise error from item
            delay = next(delays)
            self._log.info(
                "kube.watch_retry",
                extra={
                    "fields": {"what": thread.what, "delay": round(delay, 2), "error": str(error)}
                },
            )
            await asyncio.sleep(delay)
            thread.restart()

    def _open_thread(
        self, watch: Callable[..., Any], resource_version: str | None, *, what: str
    ) -> _WatchThread:
        def request() -> Any:
            kwargs: dict[str, Any] = {
                "watch": True,
                "allow_watch_bookmarks": True,
                "timeout_seconds": WATCH_SECONDS,
                "_preload_content": False,
                "_request_timeout": (self._timeout, WATCH_SECONDS + 30),
            }
            if resource_version:
                kwargs["resource_version"] = resource_version
            return watch(**kwargs)

        thread = _WatchThread(request, asyncio.get_running_loop(), what=what, owner=self._open)
        thread.start()
        return thread


class _WatchThread:
    """One streaming watch request on a thread of its own, feeding an asyncio queue.

    Items: WatchEvent per line; an Exception when the request failed; None when the stream
    ended. ``restart`` sends the same request again (after a connection failure).
    """

    def __init__(
        self,
        request: Callable[[], Any],
        loop: asyncio.AbstractEventLoop,
        *,
        what: str,
        owner: set[_WatchThread],
    ) -> None:
        self.queue: asyncio.Queue[WatchEvent | BaseException | None] = asyncio.Queue()
        self.what = what
        self._request = request
        self._loop = loop
        self._owner = owner
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None

    def start(self) -> None:
        self._owner.add(self)
        thread = threading.Thread(target=self._run, name=f"kube-watch:{self.what}", daemon=True)
        thread.start()

    def restart(self) -> None:
        if not self._closed.is_set():
            self.start()

    def close(self) -> None:
        self._closed.set()
        self._owner.discard(self)
        with self._lock:
            response = self._response
        if response is not None:
            _shutdown_socket(response)

    def _put(self, item: WatchEvent | BaseException | None) -> None:
        if self._closed.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _run(self) -> None:
        response = None
        try:
            response = self._request()
            with self._lock:
                self._response = response
            if self._closed.is_set():
                return
            for line in _lines(response):
                if self._closed.is_set():
                    return
                event = json.loads(line)
                self._put(WatchEvent(str(event.get("type", "")), event.get("object") or {}))
            self._put(None)
        except BaseException as exc:
            self._put(exc)
        finally:
            if response is not None:
                # Closed, never handed back to the pool with the rest of a stream unread: the
                # next request on that connection would read a chunk size as its status line.
                with contextlib.suppress(Exception):
                    response.close()
                with contextlib.suppress(Exception):
                    response.release_conn()
                with self._lock:
                    self._response = None


def _lines(response: Any) -> Iterator[bytes]:
    buffer = b""
    for chunk in response.stream(16384, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def _shutdown_socket(response: Any) -> None:
    """End a blocked read on another thread: shutting the socket down wakes it with EOF."""
    connection = getattr(response, "connection", None) or getattr(response, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sock.shutdown(socket.SHUT_RDWR)


__all__ = ["WATCH_SECONDS", "Listing", "WatchEvent", "Watches"]
