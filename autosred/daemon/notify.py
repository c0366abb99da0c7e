"""sd_notify: tell systemd when we are ready, reloading, stopping, alive (watchdog)."""

from __future__ import annotations

import logging
import os
import time

import sdnotify


class Notifier:
    """A no-op when not started by systemd (no NOTIFY_SOCKET)."""

    def __init__(self, *, log: logging.Logger) -> None:
        self._log = log
        self._enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self._enabled else None

    def send(self, *lines: str) -> None:
        if self._notifier is None:
            return
        self._notifier.notify("\n".join(lines))

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def reloading(self) -> None:
        # systemd >= 253 (Type=notify-reload) wants the monotonic time of the reload request.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Half the watchdog period systemd asked for, or None when it asked for none."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not self._enabled or not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 1_000_000 / 2
        except ValueError:
            return None
