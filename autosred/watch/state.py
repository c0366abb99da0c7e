"""What the viewer chose (which model is in focus, whether the log pane shows) and what it has
seen (the latest frame, with request events that arrived since)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from autosred.admin.schema import RequestRecord, WatchFrame

RECENT_REQUESTS = 50
"""Request events kept between frames; more than any screen shows."""


@dataclass(frozen=True)
class ViewState:
    """The keys' effect: ``m`` moves the focus, ``l`` toggles the log pane."""

    focus: str | None = None
    """The model whose figures, requests and log lines the view shows; None: every model."""
    show_log: bool = True

    def cycle(self, names: Sequence[str]) -> ViewState:
        """All models, then each in turn, then all again. A focus on a model that went away
        (a reload removed it) starts over."""
        order: list[str | None] = [None, *names]
        try:
            at = order.index(self.focus)
        except ValueError:
            at = -1
        return dataclasses.replace(self, focus=order[(at + 1) % len(order)])

    def toggle_log(self) -> ViewState:
        return dataclasses.replace(self, show_log=not self.show_log)

    def shows(self, model: str) -> bool:
        return self.focus is None or self.focus == model


def with_request(frame: WatchFrame, record: RequestRecord) -> WatchFrame:
    """The frame with a request that finished after it was taken, newest first (the next
    frame's list, the daemon's own ring, replaces it)."""
    if record in frame.requests:
        return frame
    requests = [record, *frame.requests][:RECENT_REQUESTS]
    return dataclasses.replace(frame, requests=requests)
