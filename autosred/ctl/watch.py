"""`autosrectl watch`: the daemon's watch stream (``GET /v1/watch``) shown live on a terminal
(autosred.watch), printed frame after frame anywhere else, or one frame with ``--once``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import TYPE_CHECKING, Any, cast

from autosred.admin.schema import (
    ApiError,
    RequestRecord,
    SchemaError,
    WatchFrame,
    parse_watch_line,
)
from autosred.ctl.client import DaemonError, Lines, Unreachable
from autosred.ctl.commands import EXIT_OK, Context

if TYPE_CHECKING:
    from rich.console import Console

EXIT_SIGNAL_BASE = 128


class WatchStream:
    """One connection's watch stream as wire types (autosred.watch.feed.Source)."""

    def __init__(self, lines: Lines) -> None:
        self._lines = lines

    def __iter__(self) -> Iterator[WatchFrame | RequestRecord]:
        for _, item in self.records():
            yield item

    def records(self) -> Iterator[tuple[object, WatchFrame | RequestRecord]]:
        """Each line as the daemon sent it, with what it says."""
        for record in self._lines:
            yield record, _parse(record)

    def close(self) -> None:
        self._lines.close()


def _parse(record: object) -> WatchFrame | RequestRecord:
    """A frame or a request event; the daemon's error line (it is stopping) ends the watch."""
    try:
        line = parse_watch_line(record)
    except SchemaError as exc:
        raise DaemonError(0, "bad_response", f"unexpected answer from the daemon: {exc}") from exc
    if isinstance(line, ApiError):
        raise DaemonError(200, line.type, line.message)
    if line.frame is not None:
        return line.frame
    assert line.request is not None  # WatchLine holds exactly one
    return line.request


def watch(args: argparse.Namespace, ctx: Context) -> int:
    interval: float = args.interval
    client = ctx.client()
    route = f"/v1/watch?interval={interval:g}"
    # A frame comes every interval: a much longer silence is a daemon that hangs.
    read_timeout = 10 + 3 * interval

    def connect() -> WatchStream:
        return WatchStream(client.follow(route, timeout=read_timeout))

    first = connect()  # unreachable or refusing: fail here, before the terminal is touched
    if ctx.json:
        with closing(first):
            for record, item in first.records():
                # As the daemon sent it: the same NDJSON lines as GET /v1/watch.
                ctx.print_json(cast(dict[str, Any], record), indent=None)
                if args.once and isinstance(item, WatchFrame):
                    return EXIT_OK
        raise _ended(ctx)
    # rich only now: it costs more start-up than the rest of autosrectl together.
    from rich.console import Console

    console = Console(file=ctx.out)
    if args.once or not console.is_terminal or console.is_dumb_terminal:
        from autosred.watch.plain import print_frames

        with closing(first):
            if print_frames(first, console=console, once=args.once):
                return EXIT_OK
        raise _ended(ctx)
    return _live(first, connect, console)


def _ended(ctx: Context) -> Unreachable:
    return Unreachable(f"lost connection to autosred at {ctx.socket}: the watch stream ended")


def _live(first: WatchStream, connect: Callable[[], WatchStream], console: Console) -> int:
    from autosred.watch.feed import Feed
    from autosred.watch.live import run_live
    from autosred.watch.terminal import Stopped

    keys_fd = sys.stdin.fileno() if sys.stdin.isatty() else None
    try:
        return run_live(Feed(first, connect), console=console, keys_fd=keys_fd)
    except Stopped as stopped:
        return EXIT_SIGNAL_BASE + stopped.signum
