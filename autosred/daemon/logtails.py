"""The model servers' last output lines for the live view's log pane.

Read only when a watch frame asks (nothing while no one watches), at most once per ``max_age``
per model however many watchers there are, from the engine that runs them (the process
engine's kept tail of the child's output; the kubernetes engine's pod log). A read that fails
or takes longer than ``timeout`` leaves that model's pane empty for the frame; the reason is
logged once per change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from autosred.engines.base import Engine, EngineUnavailable, LogSource
from autosred.recipes import Recipe

LINES = 20
"""Lines per model: what a log pane on a terminal shows."""
MAX_AGE = 2.0
TIMEOUT = 1.0


@dataclass
class _Tail:
    lines: list[str]
    read_at: float
    reading: asyncio.Task[None] | None = None
    failure: str | None = None


class LogTails:
    def __init__(
        self,
        *,
        engine: Engine,
        log: logging.Logger,
        lines: int = LINES,
        max_age: float = MAX_AGE,
        timeout: float = TIMEOUT,
    ) -> None:
        self._source = engine if isinstance(engine, LogSource) else None
        self._log = log
        self._lines = lines
        self._max_age = max_age
        self._timeout = timeout
        self._tails: dict[str, _Tail] = {}

    async def read(self, recipes: Iterable[Recipe]) -> list[tuple[str, str]]:
        """(model, line) for each of these models' servers, oldest line first per model;
        every other model is forgotten."""
        source = self._source
        if source is None:
            return []
        wanted = {recipe.name: recipe for recipe in recipes}
        for name in [n for n in self._tails if n not in wanted]:
            tail = self._tails.pop(name)
            if tail.reading is not None:
                tail.reading.cancel()
        now = time.monotonic()
        waits = []
        for name, recipe in wanted.items():
            tail = self._tails.setdefault(name, _Tail(lines=[], read_at=-1e9))
            if tail.reading is None and now - tail.read_at >= self._max_age:
                tail.reading = asyncio.create_task(
                    self._read(source, recipe, tail), name=f"logtails.read:{name}"
                )
            if tail.reading is not None:
                waits.append(tail.reading)
        if waits:
            await asyncio.wait([asyncio.shield(task) for task in waits])
        return [(name, line) for name in wanted for line in self._tails[name].lines]

    def close(self) -> None:
        for tail in self._tails.values():
            if tail.reading is not None:
                tail.reading.cancel()
        self._tails.clear()

    async def _read(self, source: LogSource, recipe: Recipe, tail: _Tail) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                tail.lines = await source.log_tail(recipe, self._lines)
            failure = None
        except TimeoutError:
            failure = f"no answer within {self._timeout:g} s"
        except EngineUnavailable as exc:
            failure = exc.reason
        finally:
            tail.read_at = time.monotonic()
            tail.reading = None
        if failure is not None:
            tail.lines = []
        if failure != tail.failure:
            tail.failure = failure
            if failure is not None:
                self._log.info(
                    "watch.log_unavailable",
                    extra={"fields": {"model": recipe.name, "reason": failure}},
                )
