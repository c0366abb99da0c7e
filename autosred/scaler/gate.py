"""ModelGate: the only way a surface reaches a model server.

``async with gate.lease(name) as backend`` yields at once when the model is ready, joins or
starts the one wake otherwise, and counts as in-flight work until the block exits, so idle
scale-down never hits a live stream. While a request waits, ``on_wait`` is called after
``keepalive_after`` seconds and then every ``keepalive_interval`` so streaming surfaces can send
their 200 and keep-alive comments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from yarl import URL

from autosred.config import DriftAction, ScalerSettings
from autosred.engines.base import Engine
from autosred.gpu import GpuReader
from autosred.metrics import Metrics
from autosred.recipes import Catalog, Recipe
from autosred.scaler.controller import ModelController
from autosred.scaler.history import WakeHistory
from autosred.scaler.loop import LoopTasks
from autosred.scaler.residency import Residency
from autosred.scaler.state import ModelUnavailable, Snapshot


@dataclass(frozen=True)
class Backend:
    """What a lease grants: the recipe in force and its server's base URL (no /v1)."""

    recipe: Recipe
    url: URL
    report_unreachable: Callable[[], None]
    """Call when the server refused a connection: the owner checks whether it died."""


@dataclass(frozen=True)
class WaitInfo:
    """Shown to a held client: ``: waking model=… phase=… eta=…``."""

    model: str
    phase: str | None
    eta_seconds: float | None
    waited_seconds: float


class UnknownModel(Exception):
    def __init__(self, requested: str, available: list[str]) -> None:
        super().__init__(requested)
        self.requested = requested
        self.available = available

    @property
    def message(self) -> str:
        names = ", ".join(self.available) or "(none configured)"
        return f"model {self.requested!r} is not served here; available: {names}"


OnWait = Callable[[WaitInfo], Awaitable[None]]


class ModelGate:
    """Holds one controller (owner task) per recipe and grants leases on them."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        engine: Engine,
        history: WakeHistory,
        metrics: Metrics,
        settings: ScalerSettings,
        log: logging.Logger,
        gpu: GpuReader | None = None,
        on_change: Callable[[Snapshot], None] | None = None,
        drift_action: DriftAction = "report",
    ) -> None:
        self._drift_action = drift_action
        self._catalog = catalog
        self._engine = engine
        self._history = history
        self._metrics = metrics
        self._settings = settings
        self._log = log
        self._on_change = on_change or (lambda snapshot: None)
        self._controllers: dict[str, ModelController] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._leases = 0
        self._gpu = gpu
        self._residency = Residency(
            capacity=settings.gpu_capacity or self._gpu_count(),
            settings=settings,
            free_memory=self._free_gpu_memory,
            evict=self._evict,
            log=log,
        )

    def _gpu_count(self) -> int:
        if self._gpu is None or not self._gpu.available:
            return 1
        return max(1, len(self._gpu.read()))

    async def _free_gpu_memory(self) -> int | None:
        """Free memory over the host's GPUs (NVML blocks briefly: read in a thread)."""
        if self._gpu is None or not self._gpu.available:
            return None
        readings = await asyncio.to_thread(self._gpu.read)
        return sum(reading.memory_free_bytes for reading in readings) if readings else None

    def _evict(self, name: str) -> None:
        controller = self._controllers.get(name)
        if controller is not None:
            controller.evict()

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def engine_kind(self) -> str:
        return self._engine.kind

    @property
    def engine(self) -> Engine:
        """For read-only questions (drift); changes go through the model's owner task."""
        return self._engine

    async def start(self, *, adoption_timeout: float = 30.0) -> None:
        """Start the owner tasks and wait (bounded) for each to see what already runs."""
        for recipe in self._catalog:
            self._add(recipe)
        waits = [asyncio.create_task(c.adopted.wait()) for c in self._controllers.values()]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=adoption_timeout)
            for task in pending:
                task.cancel()

    def _add(self, recipe: Recipe) -> None:
        controller = ModelController(
            recipe=recipe,
            engine=self._engine,
            history=self._history,
            residency=self._residency,
            metrics=self._metrics,
            settings=self._settings,
            log=self._log,
            on_change=self._on_change,
            drift_action=self._drift_action,
            tasks=LoopTasks(),
        )
        self._controllers[recipe.name] = controller
        task = asyncio.create_task(
            self._guard(recipe.name, controller), name=f"model:{recipe.name}"
        )
        self._tasks[recipe.name] = task

    async def _guard(self, name: str, controller: ModelController) -> None:
        """Run an owner task and log why it ended: a silently dead owner would hang clients."""
        try:
            await controller.run()
            self._log.info(
                "scaler.owner_ended", extra={"fields": {"model": name, "why": "retired"}}
            )
        except asyncio.CancelledError:
            self._log.debug(
                "scaler.owner_ended", extra={"fields": {"model": name, "why": "cancelled"}}
            )
            raise
        except Exception:
            self._log.exception("scaler.owner_crashed", extra={"fields": {"model": name}})
        finally:
            if self._controllers.get(name) is controller:
                del self._controllers[name]
                self._tasks.pop(name, None)
                self._metrics.forget_model(name)

    def resolve(self, requested: str) -> Recipe:
        recipe = self._catalog.resolve(requested)
        if recipe is None:
            raise UnknownModel(requested, self._catalog.client_names())
        return recipe

    def controller(self, name: str) -> ModelController:
        controller = self._controllers.get(name)
        if controller is None:
            raise UnknownModel(name, [recipe.name for recipe in self._catalog])
        return controller

    def snapshots(self) -> list[Snapshot]:
        return [
            self._controllers[r.name].snapshot for r in self._catalog if r.name in self._controllers
        ]

    @property
    def leases(self) -> int:
        """Requests holding or waiting for a lease, over every model."""
        return self._leases

    def switch(self, name: str) -> asyncio.Future[Snapshot]:
        """Make ``name`` the running model, decided here in one step with no state read first:
        every other model that uses GPUs is told to stop once its in-flight requests are done
        (its owner alone knows whether it holds anything), and ``name``'s owner to wake; the
        residency admits it once the GPUs are free. Explicit, so no minimum residency.
        Resolves like ``scale_up``."""
        target = self.controller(name)
        for other in self._controllers.values():
            if other is not target and other.recipe.gpu.count:
                other.scale_down()
        return target.scale_up()

    @contextlib.asynccontextmanager
    async def lease(self, name: str, *, on_wait: OnWait | None = None) -> AsyncIterator[Backend]:
        controller = self.controller(name)
        self._leases += 1
        try:
            url = await self._acquire(controller, on_wait)
            try:
                yield Backend(
                    recipe=controller.recipe,
                    url=url,
                    report_unreachable=controller.report_unreachable,
                )
            finally:
                controller.release()
        finally:
            self._leases -= 1

    async def _acquire(self, controller: ModelController, on_wait: OnWait | None) -> URL:
        loop = asyncio.get_running_loop()
        future = controller.acquire()
        if future.done():
            return future.result()  # granted at once: the model is ready
        started = loop.time()
        patience = self._settings.keepalive_after
        try:
            while True:
                try:
                    async with asyncio.timeout(patience):
                        return await asyncio.shield(future)
                except TimeoutError:
                    if future.done():
                        return future.result()
                if on_wait is not None:
                    snapshot = controller.snapshot
                    await on_wait(
                        WaitInfo(
                            model=controller.recipe.name,
                            phase=snapshot.phase,
                            eta_seconds=snapshot.eta_seconds,
                            waited_seconds=loop.time() - started,
                        )
                    )
                patience = self._settings.keepalive_interval
        except BaseException:
            # The client went away (or on_wait failed) while held: give back what was granted.
            if future.done() and not future.cancelled() and future.exception() is None:
                controller.release()
            elif not future.done():
                future.cancel()
                controller.cancel_wait(future)
            raise

    async def update_catalog(self, catalog: Catalog) -> None:
        """Apply a reloaded configuration: new recipes start stopped, removed ones retire."""
        old = {recipe.name for recipe in self._catalog}
        self._catalog = catalog
        for recipe in catalog:
            controller = self._controllers.get(recipe.name)
            if controller is None:
                self._add(recipe)
            elif controller.recipe != recipe:
                controller.update_recipe(recipe)
        for name in old - {recipe.name for recipe in catalog}:
            if name in self._controllers:
                self._controllers[name].retire()

    async def aclose(self) -> None:
        """Cancel every owner task (held clients get 'shutting down'); engines are closed apart."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._residency.close()


__all__ = ["Backend", "ModelGate", "ModelUnavailable", "OnWait", "UnknownModel", "WaitInfo"]
