"""The daemon's watch stream read on a thread of its own, so the view's loop never blocks on it.

The thread keeps only what the next screen needs (the latest frame and the requests that
finished after it) and pokes a pipe the loop waits on with the keyboard. A frame the loop had
no time to draw is replaced by the next one: a slow terminal skips frames, it does not queue
them. When the stream is lost the thread says why (the view shows it) and connects again, so
a watcher left open survives a daemon restart.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from autosred.admin.schema import RequestRecord, WatchFrame
from autosred.watch.state import RECENT_REQUESTS

WatchItem = WatchFrame | RequestRecord

RETRY_FIRST = 0.5
RETRY_MAX = 2.0
"""Seconds between attempts to reach a lost daemon: doubling from the first to the most."""


class Source(Protocol):
    """One connection's stream of items; ``close`` may be called from another thread and
    makes a blocked iteration end."""

    def __iter__(self) -> Iterator[WatchItem]: ...

    def close(self) -> None: ...


Connect = Callable[[], Source]


@dataclass
class Update:
    """What arrived since the loop last looked."""

    frame: WatchFrame | None = None
    """The newest frame, when a new one came."""
    requests: list[RequestRecord] = field(default_factory=list)
    """Requests that finished after that frame (or after the one on screen), oldest first."""
    note: str | None = None
    """Why the stream is not flowing now; None when it is."""


class Feed:
    def __init__(self, first: Source, connect: Connect) -> None:
        self._source = first
        self._connect = connect
        self._lock = threading.Lock()
        self._pending = Update()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="autosred-watch-feed", daemon=True)

    def fileno(self) -> int:
        """Readable when something arrived (or the loop was poked)."""
        return self._wake_r

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Wake the loop (from the feed thread, or a signal handler on the main thread)."""
        try:
            os.write(self._wake_w, b".")
        except BlockingIOError:
            pass  # the pipe is full of pokes already: the loop will wake

    def take(self) -> Update:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            update, self._pending = self._pending, Update(note=self._pending.note)
        return update

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            source = self._source
        source.close()
        self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self) -> None:
        source = self._source
        while True:
            reason = self._follow(source)
            source.close()
            if self._stopping.is_set():
                return
            self._say(f"lost the daemon ({reason}); reconnecting")
            next_source = self._reconnect()
            if next_source is None:
                return
            with self._lock:
                self._source = source = next_source
            if self._stopping.is_set():  # close() came while connecting: it closed the old one
                source.close()
                return

    def _follow(self, source: Source) -> str:
        try:
            for item in source:
                with self._lock:
                    pending = self._pending
                    if isinstance(item, WatchFrame):
                        pending.frame = item
                        pending.requests.clear()
                    else:
                        pending.requests = [*pending.requests, item][-RECENT_REQUESTS:]
                    pending.note = None
                self.poke()
        except Exception as exc:  # anything the stream raises: shown, then reconnect
            return str(exc) or type(exc).__name__
        return "it closed the stream"

    def _reconnect(self) -> Source | None:
        delay = RETRY_FIRST
        while not self._stopping.wait(delay):
            try:
                return self._connect()
            except Exception as exc:
                delay = min(delay * 2, RETRY_MAX)
                self._say(f"daemon unreachable ({exc}); retrying in {delay:g}s")
        return None

    def _say(self, note: str) -> None:
        with self._lock:
            self._pending.note = note
        self.poke()
