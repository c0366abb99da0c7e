"""A model's owner driven one message at a time: a fake clock the test moves, child work the
test completes by hand, and a fake engine (the seams are autosred.scaler.loop and
autosred.engines.base.Engine; nothing inside the controller is patched)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yarl import URL

from autosred.config import DriftAction, ScalerSettings
from autosred.engines.base import Observation, Observed, Ready, WakeFailed, WakeProgress
from autosred.metrics import Metrics
from autosred.recipes import Recipe
from autosred.recipes.drift import FieldDrift
from autosred.scaler.controller import ModelController
from autosred.scaler.history import WakeHistory
from autosred.scaler.messages import Message
from autosred.scaler.residency import Residency
from autosred.scaler.state import ModelState

URL_A = URL("http://127.0.0.1:9001")
URL_B = URL("http://127.0.0.1:9002")


@dataclass
class FakeTimer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    def __init__(self) -> None:
        self.time = 1000.0
        self.timers: list[FakeTimer] = []

    def now(self) -> float:
        return self.time

    def wall(self) -> float:
        return 1_700_000_000.0 + self.time

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(when, callback)
        self.timers.append(timer)
        return timer

    def armed(self) -> list[FakeTimer]:
        return [timer for timer in self.timers if not timer.cancelled]

    def advance(self, seconds: float) -> None:
        """Move time on and fire the timers that fall due, in order."""
        self.time += seconds
        due = sorted((t for t in self.armed() if t.when <= self.time), key=lambda timer: timer.when)
        for timer in due:
            timer.cancelled = True
            timer.callback()


@dataclass
class Child:
    name: str
    work: Coroutine[Any, Any, None]

    @property
    def kind(self) -> str:
        """``wake``, ``stop``, ``check`` or ``admit``."""
        return self.name.split(":")[0].removeprefix("scaler.")


class FakeTasks:
    """Child work is recorded, not run: the test posts its outcome, or runs it (``complete``)."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.cancelled = False

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        self.children.append(Child(name, work))

    def cancel_all(self) -> None:
        self.cancelled = True
        self.close()

    def close(self) -> None:
        for child in self.children:
            child.work.close()
        self.children.clear()

    def kinds(self) -> list[str]:
        return [child.kind for child in self.children]

    def take(self, kind: str) -> Child:
        (child,) = [c for c in self.children if c.kind == kind]
        self.children.remove(child)
        return child


@dataclass
class FakeEngine:
    """Engine protocol: a start that yields the scripted steps, stops and observations that
    are recorded."""

    kind: str = "fake"
    steps: list[WakeProgress] = field(
        default_factory=lambda: [WakeProgress("loading"), Ready("health", "200", url=URL_A)]
    )
    failure: str | None = None
    observation: Observation = field(
        default_factory=lambda: Observation(Observed.RUNNING, endpoint=URL_A)
    )
    calls: list[str] = field(default_factory=list)

    async def start(self, recipe: Recipe) -> AsyncIterator[WakeProgress]:
        self.calls.append(f"start {recipe.name}")
        for step in self.steps:
            yield step
        if self.failure is not None:
            raise WakeFailed(self.failure)

    async def stop(self, recipe: Recipe) -> None:
        self.calls.append(f"stop {recipe.name}")

    async def observe(self, recipe: Recipe) -> Observation:
        self.calls.append(f"observe {recipe.name}")
        return self.observation

    async def aclose(self) -> None:
        pass


class Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def names(self) -> list[str]:
        return [record.getMessage() for record in self.records]

    def fields(self, name: str) -> list[dict[str, Any]]:
        return [
            dict(getattr(record, "fields", {}))
            for record in self.records
            if record.getMessage() == name
        ]


SETTINGS = ScalerSettings(
    idle_check_interval=1.0,
    health_check_interval=15.0,
    switch_drain_timeout=60.0,
    min_residency=30.0,
    gpu_capacity=1,
)


def recipe(name: str = "m", **overrides: Any) -> Recipe:
    data: dict[str, Any] = {
        "name": name,
        "url": "http://127.0.0.1:9001",
        "idle_timeout": "600s",
        "hold_cap": 3,
    }
    data.update(overrides)
    return Recipe.model_validate(data)


class Harness:
    """One controller with its residency on a fake clock and fake child tasks."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        drift_action: DriftAction = "report",
        recipes: tuple[Recipe, ...] = (),
        settings: ScalerSettings = SETTINGS,
    ) -> None:
        self.clock = FakeClock()
        self.tasks = FakeTasks()
        self.admissions = FakeTasks()
        self.engine = FakeEngine()
        self.metrics = Metrics()
        self.events = Events()
        self.log = logging.getLogger(f"tests.scaler.{id(self)}")
        self.log.addHandler(self.events)
        self.log.setLevel(logging.DEBUG)
        self.log.propagate = False
        self.evicted: list[str] = []
        self.residency = Residency(
            capacity=settings.gpu_capacity or 1,
            settings=settings,
            free_memory=_no_nvml,
            evict=self._evict,
            log=self.log,
            clock=self.clock,
            tasks=self.admissions,
        )
        self.controllers = {
            r.name: ModelController(
                recipe=r,
                engine=self.engine,
                history=WakeHistory(tmp_path / "history.json", log=self.log),
                residency=self.residency,
                metrics=self.metrics,
                settings=settings,
                log=self.log,
                on_change=lambda snapshot: None,
                drift_action=drift_action,
                clock=self.clock,
                tasks=self.tasks,
            )
            for r in (recipes or (recipe(),))
        }
        self.controller = next(iter(self.controllers.values()))
        self.ended = False
        self.futures: list[asyncio.Future[Any]] = []
        self.last: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def _evict(self, name: str) -> None:
        self.evicted.append(name)
        self.controllers[name].evict()

    # ---------------------------------------------------------------------------- driving

    def send(self, message: Message, *, to: str | None = None) -> bool:
        controller = self.controllers[to] if to else self.controller
        self.ended = controller.handle(message)
        return self.ended

    def posted(self, to: str | None = None) -> list[Message]:
        """What timers and child work posted to the owner's inbox, taken out of it."""
        controller = self.controllers[to] if to else self.controller
        inbox = controller._inbox  # the queue the owner task would read next
        taken = []
        while not inbox.empty():
            taken.append(inbox.get_nowait())
        return taken

    def deliver(self, to: str | None = None) -> None:
        """Hand what was posted to the owner, as its loop would."""
        for message in self.posted(to):
            self.send(message, to=to)

    def future(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future

    @property
    def generation(self) -> int:
        return self.controller.generation

    @property
    def state(self) -> ModelState:
        return self.controller.snapshot.state

    async def run(self, kind: str) -> None:
        """Run one recorded child to its end (it must not wait on anything the test holds)."""
        child = self.tasks.take(kind)
        await child.work

    async def admit(self) -> None:
        """Run the residency's pending admission (free GPU memory is not read: no NVML)."""
        child = self.admissions.take("admit")
        await child.work

    def reset_effects(self) -> None:
        self.tasks.close()
        self.events.records.clear()

    def close(self) -> None:
        for future in self.futures:
            if future.done() and not future.cancelled():
                future.exception()  # a refused request is an outcome here, not a leak
        self.tasks.close()
        self.admissions.close()
        self.log.removeHandler(self.events)


async def _no_nvml() -> int | None:
    return None


def drift(*names: str) -> tuple[FieldDrift, ...]:
    return tuple(FieldDrift(name, "recipe", "live") for name in names)
