"""At most one log line per kind of event and interval, however fast the events come.

What an attacker can trigger at will (connections refused, heads that never end, malformed
requests, accept failing for want of descriptors) must cost the journal one line per interval,
not one per event: the line carries how many were left unsaid since the last one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

DEFAULT_INTERVAL = 10.0
"""Seconds between two lines about the same kind of event."""


class LogThrottle:
    """Logs an event at most once per ``interval`` per event name."""

    def __init__(
        self,
        log: logging.Logger,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(
        self, level: int, event: str, *, exc_info: BaseException | None = None, **fields: Any
    ) -> bool:
        """Log ``event`` with ``fields`` (plus ``suppressed``: how many of it went unlogged
        since its last line) unless it was logged less than an interval ago; True if logged."""
        now = self._clock()
        last = self._last.get(event)
        if last is not None and now - last < self._interval:
            self._suppressed[event] = self._suppressed.get(event, 0) + 1
            return False
        self._last[event] = now
        suppressed = self._suppressed.pop(event, 0)
        self._log.log(
            level, event, exc_info=exc_info, extra={"fields": {**fields, "suppressed": suppressed}}
        )
        return True
