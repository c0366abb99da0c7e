"""The view where there is no terminal (a pipe, a file, a script): each frame printed in full,
one after the other; ``--once`` prints the first and stops."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console

from autosred.admin.schema import WatchFrame
from autosred.watch.feed import WatchItem
from autosred.watch.screen import render
from autosred.watch.state import ViewState


def print_frames(items: Iterable[WatchItem], *, console: Console, once: bool) -> bool:
    """Print every frame (request events are in the next frame anyway); True once ``once``
    printed its frame, False when the stream ended first."""
    state = ViewState()
    first = True
    for item in items:
        if not isinstance(item, WatchFrame):
            continue
        if not first:
            console.print()
        console.print(render(item, state, width=console.width, height=None, keys=False))
        if once:
            return True
        first = False
    return False
