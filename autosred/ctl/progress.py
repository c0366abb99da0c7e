"""Showing a `scale --wait` as it happens: a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TextIO

from autosred.admin.schema import Progress
from autosred.ctl.render import progress_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status as RichStatus


class ProgressView(Protocol):
    def __enter__(self) -> ProgressView: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def update(self, progress: Progress) -> None: ...


class PlainProgress:
    """One line per change, for logs and pipes; repeated identical updates are not repeated."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: str | None = None

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def update(self, progress: Progress) -> None:
        line = progress_line(progress)
        if line != self._last:
            print(line, file=self._out, flush=True)
            self._last = line


class LiveProgress:
    """A spinner on the current phase, with each finished phase left above it.

    rich is imported here, only when a terminal asks for it: it costs more than the rest of
    autosrectl's start-up together.
    """

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console

        self._console: Console = Console(file=out, highlight=False)
        self._spinner: RichStatus = self._console.status("", spinner="dots")
        self._phase: str | None = None

    def __enter__(self) -> LiveProgress:
        self._spinner.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._spinner.stop()

    def update(self, progress: Progress) -> None:
        from rich.markup import escape

        phase = progress.phase or progress.state
        if self._phase is not None and phase != self._phase:
            self._console.print(f"[green]✓[/green] {escape(self._phase)}")
        self._phase = phase
        self._spinner.update(escape(progress_line(progress)))


class QuietProgress:
    """Shows nothing: with --json the records themselves are the output."""

    def __enter__(self) -> QuietProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def update(self, progress: Progress) -> None:
        return None


def progress_view(out: TextIO) -> ProgressView:
    """Live on a terminal, plain lines on anything else."""
    if out.isatty():
        return LiveProgress(out)
    return PlainProgress(out)
