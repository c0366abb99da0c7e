"""The terminal's keyboard for the live view: keys one at a time, unechoed, read without
blocking the loop, and the terminal's own settings back on every way out.

cbreak rather than raw: Ctrl-C still sends SIGINT (the view stops as it would for any
command), and output processing stays on, so Rich's lines end where it means them to.
"""

from __future__ import annotations

import os
import signal
import termios
import tty
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Stopped(Exception):
    """SIGTERM or SIGHUP (the terminal went away): leave like a quit, terminal restored."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Keyboard:
    """stdin in cbreak mode while the view runs."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> Keyboard:
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._saved is not None:
            # TCSAFLUSH: keys typed after the last read (a q pressed twice) do not reach the
            # shell that gets the terminal back.
            termios.tcsetattr(self.fd, termios.TCSAFLUSH, self._saved)
            self._saved = None

    def keys(self) -> str | None:
        """What was typed since the last call (the fd is readable: this does not block);
        None once the terminal is gone (end of file)."""
        try:
            data = os.read(self.fd, 256)
        except (BlockingIOError, InterruptedError):
            return ""
        if not data:
            return None
        return data.decode(errors="ignore")


class Signals:
    """While the view runs: SIGWINCH calls ``on_resize`` (which must only poke the loop),
    SIGTERM and SIGHUP raise Stopped so that every ``finally`` on the way out runs; the
    previous handlers come back on exit."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        self._on_resize = on_resize
        self._saved: dict[int, _Handler] = {}

    def __enter__(self) -> Signals:
        self._install(signal.SIGWINCH, lambda signum, frame: self._on_resize())
        self._install(signal.SIGTERM, self._stop)
        self._install(signal.SIGHUP, self._stop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    def _install(self, signum: int, handler: Callable[[int, FrameType | None], Any]) -> None:
        self._saved[signum] = signal.signal(signum, handler)

    @staticmethod
    def _stop(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signum)
