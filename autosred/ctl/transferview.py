"""How a put or get shows its progress: a Rich bar with rate and ETA on a terminal, nothing
otherwise (a pipe or a log gets only the command's result)."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class TransferView(Protocol):
    def __enter__(self) -> TransferView: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def start(self, label: str, total: int, done: int) -> None:
        """A new transfer of `total` bytes, `done` of them there already (a resume)."""

    def advance(self, count: int) -> None: ...

    def restart(self, done: int) -> None:
        """The transfer goes on from `done` (the dropbox's offset differed from ours)."""


class QuietTransfer:
    def __enter__(self) -> QuietTransfer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def start(self, label: str, total: int, done: int) -> None:
        return None

    def advance(self, count: int) -> None:
        return None

    def restart(self, done: int) -> None:
        return None


class BarTransfer:
    """One bar per file, left on screen when done. rich is imported only here, for a terminal."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=out),
        )
        self._task: TaskID | None = None

    def __enter__(self) -> BarTransfer:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def start(self, label: str, total: int, done: int) -> None:
        self._task = self._progress.add_task(label, total=total, completed=done)

    def advance(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)

    def restart(self, done: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=done)


def transfer_view(err: TextIO, *, quiet: bool) -> TransferView:
    if not quiet and err.isatty():
        return BarTransfer(err)
    return QuietTransfer()
