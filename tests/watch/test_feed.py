"""The feed thread between the daemon's stream and the view's loop: latest frame wins,
request events kept in order, a lost stream said and reconnected, close() ends a blocked read.

The sources are scripted streams behind the feed's own seam (Source: iterate, close from
another thread), the part the real connection (ctl/watch.py WatchStream) fills in."""

from __future__ import annotations

import queue
import select
import threading
from collections.abc import Callable, Iterator

import pytest

from autosred.admin.schema import RequestRecord, WatchFrame
from autosred.watch.feed import Feed, Source, Update
from autosred.watch.live import LiveView

DEADLINE = 10.0
END = object()


class Scripted:
    """Yields what the test puts in, blocking in between like a socket; close() ends it."""

    def __init__(self) -> None:
        self.items: queue.Queue[object] = queue.Queue()
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[WatchFrame | RequestRecord]:
        while True:
            item = self.items.get(timeout=DEADLINE)
            if item is END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, WatchFrame | RequestRecord)
            yield item

    def close(self) -> None:
        self.closed.set()
        self.items.put(END)


def frame(at: float) -> WatchFrame:
    return WatchFrame(at=at)


def record(at: float) -> RequestRecord:
    return RequestRecord(at=at, surface="anthropic", client="-", model="m", status="200")


def until(feed: Feed, check: Callable[[Update], bool]) -> Update:
    """Updates taken as the loop takes them (once the feed pokes it), until one passes
    ``check``."""
    for _ in range(100):
        readable, _, _ = select.select([feed.fileno()], [], [], DEADLINE)
        assert readable, "the feed never woke the loop"
        update = feed.take()
        if check(update):
            return update
    raise AssertionError("no such update")


def test_the_latest_frame_wins_and_events_after_it_are_kept() -> None:
    source = Scripted()
    feed = Feed(source, connect=lambda: pytest.fail("no reconnect expected"))
    for item in (frame(1), record(1), frame(2), record(2), record(3)):
        source.items.put(item)
    feed.start()
    # The loop takes what arrived whenever it wakes (all at once, or item by item): what it
    # shows in the end is the newest frame with the requests after it, newest first.
    view = LiveView()

    def shown(update: Update) -> bool:
        view.apply(update)
        return view.frame is not None and len(view.frame.requests) == 2

    until(feed, shown)
    assert view.frame is not None and view.frame.at == 2
    assert [r.at for r in view.frame.requests] == [3, 2]
    assert view.note is None
    feed.close()
    assert source.closed.is_set()


def test_a_lost_stream_is_said_and_reconnected() -> None:
    first, second = Scripted(), Scripted()
    attempts: list[int] = []
    lost_seen = threading.Event()

    def connect() -> Source:
        attempts.append(1)
        if len(attempts) == 1:
            # Not before the loop has shown the loss (this note replaces that one).
            assert lost_seen.wait(DEADLINE)
            raise ConnectionError("cannot reach autosred")
        return second

    feed = Feed(first, connect)
    feed.start()
    first.items.put(frame(1))
    assert until(feed, lambda u: u.frame is not None).frame == frame(1)
    first.items.put(OSError("connection reset"))
    lost = until(feed, lambda u: u.note is not None)
    assert lost.note is not None and "connection reset" in lost.note
    lost_seen.set()
    failed = until(feed, lambda u: u.note is not None and "unreachable" in u.note)
    assert failed.note is not None and "cannot reach autosred" in failed.note
    assert first.closed.is_set()
    second.items.put(frame(2))
    back = until(feed, lambda u: u.frame is not None)
    assert back.frame == frame(2) and back.note is None
    feed.close()
    assert second.closed.is_set() and len(attempts) == 2


def test_close_ends_a_read_that_waits() -> None:
    source = Scripted()
    feed = Feed(source, connect=lambda: pytest.fail("no reconnect after close"))
    feed.start()
    source.items.put(frame(1))
    until(feed, lambda u: u.frame is not None)
    feed.close()  # the thread is blocked in the source: close() must end it
    assert source.closed.is_set()
