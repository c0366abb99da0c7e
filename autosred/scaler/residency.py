"""Which models may hold the GPUs at once: wake slots, switching, and GPU-memory gating.

A model that needs GPUs (``recipe.gpu.count``) asks for a slot before its engine starts. When
the GPUs are taken, the least recently used resident model is switched out — once it has been
resident for ``min_residency`` (no thrashing), after its in-flight requests drained (bounded by
``switch_drain_timeout``, the controller's job) — and the next model starts only when NVML
shows its ``min_free_vram_gib`` free (bounded by ``vram_release_timeout``; memory lingers a
moment after a server exits).

All decisions happen in synchronous methods on the event loop, called by the models' owner
tasks (never by their child tasks), so no two interleave; the only task is the one admission at
the head of the queue, which only waits for GPU memory and hands its verdict to a synchronous
method. The clock and that task are injected (autosred.scaler.loop) for tests/scaler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from autosred.config import ScalerSettings
from autosred.recipes import Recipe
from autosred.scaler.loop import Clock, LoopClock, LoopTasks, Tasks, Timer

_GIB = 1024**3
_VRAM_POLL = 0.5
_GPU_RETRY_AFTER = 30.0

FreeMemory = Callable[[], Awaitable[int | None]]
"""Free GPU memory in bytes over the host's GPUs, or None when it cannot be read (no NVML)."""


class GpuUnavailable(Exception):
    """The model cannot get the GPUs or GPU memory it needs now."""

    def __init__(self, reason: str, *, retry_after: float = _GPU_RETRY_AFTER) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(eq=False)
class Claim:
    """One model's request for a slot; ``granted`` resolves when its engine may start."""

    recipe: Recipe
    on_reason: Callable[[str], None]
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    reason: str = ""

    def tell(self, reason: str) -> None:
        if reason != self.reason:
            self.reason = reason
            self.on_reason(reason)


class Residency:
    def __init__(
        self,
        *,
        capacity: int,
        settings: ScalerSettings,
        free_memory: FreeMemory,
        evict: Callable[[str], None],
        log: logging.Logger,
        clock: Clock | None = None,
        tasks: Tasks | None = None,
    ) -> None:
        self._clock = clock or LoopClock()
        self._tasks = tasks or LoopTasks()
        self._capacity = capacity
        self._settings = settings
        self._free_memory = free_memory
        self._evict = evict
        self._log = log
        self._resident: dict[str, int] = {}
        self._ready_at: dict[str, float] = {}
        self._last_used: dict[str, float] = {}
        self._evicting: set[str] = set()
        self._queue: list[Claim] = []
        self._released_at: float | None = None
        self._admitting: Claim | None = None
        self._timer: Timer | None = None

    # ------------------------------------------------------------- what controllers report

    def request(self, recipe: Recipe, *, on_reason: Callable[[str], None]) -> Claim:
        claim = Claim(recipe=recipe, on_reason=on_reason)
        needs = recipe.gpu
        if needs.count == 0 and needs.min_free_vram_gib is None:
            claim.granted.set_result(None)
        elif needs.count > self._capacity:
            claim.granted.set_exception(
                GpuUnavailable(
                    f"{recipe.name} needs {needs.count} GPUs; this host shares "
                    f"{self._capacity} (scaler.gpu_capacity)",
                    retry_after=3600,
                )
            )
        else:
            self._queue.append(claim)
            self._pump()
        return claim

    def adopt(self, recipe: Recipe) -> None:
        """A server found running at start-up holds its GPUs; its residency starts now."""
        if recipe.gpu.count:
            now = self._clock.now()
            self._resident[recipe.name] = recipe.gpu.count
            self._ready_at[recipe.name] = now
            self._last_used[recipe.name] = now

    def withdraw(self, claim: Claim) -> None:
        """The wake was abandoned (budget, shutdown): give back the slot or the place in line."""
        if claim in self._queue:
            self._queue.remove(claim)
        elif (
            claim.granted.done() and not claim.granted.cancelled() and not claim.granted.exception()
        ):
            self.released(claim.recipe.name)
            return
        if not claim.granted.done():
            claim.granted.cancel()
        self._pump()

    def ready(self, name: str) -> None:
        self._ready_at[name] = self._clock.now()
        self._pump()

    def used(self, name: str) -> None:
        self._last_used[name] = self._clock.now()

    def released(self, name: str) -> None:
        """The model's server stopped: its GPUs are free (its memory may lag a moment)."""
        if self._resident.pop(name, None) is not None:
            self._released_at = self._clock.now()
            self._log.info("scaler.gpu_released", extra={"fields": {"model": name}})
        self._evicting.discard(name)
        self._ready_at.pop(name, None)
        self._pump()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._tasks.cancel_all()
        self._admitting = None
        for claim in self._queue:
            if not claim.granted.done():
                claim.granted.cancel()
        self._queue.clear()

    # ------------------------------------------------------------------------- decisions

    def _pump(self) -> None:
        while self._queue and self._queue[0].granted.done():
            self._queue.pop(0)
        if not self._queue or self._admitting is not None:
            return
        head = self._queue[0]
        needed = head.recipe.gpu.count
        free = self._capacity - sum(self._resident.values())
        if needed <= free:
            self._admitting = head
            self._tasks.spawn(self._admit(head), name="scaler.admit")
            return
        self._switch_out(head, needed - free)

    def _switch_out(self, head: Claim, shortfall: int) -> None:
        now = self._clock.now()
        shortfall -= sum(self._resident[name] for name in self._evicting)
        candidates = sorted(
            (name for name in self._resident if name not in self._evicting),
            key=lambda name: self._last_used.get(name, 0.0),
        )
        for name in candidates:
            if shortfall <= 0:
                break
            ready_at = self._ready_at.get(name)
            if ready_at is None:
                head.tell(f"waiting for {name} to finish starting before switching it out")
                return
            until = ready_at + self._settings.min_residency
            if now < until:
                head.tell(
                    f"{name} holds the GPU for at least {self._settings.min_residency:g} s "
                    f"after waking; switching in {until - now:.0f} s"
                )
                self._recheck_at(until)
                return
            self._evicting.add(name)
            shortfall -= self._resident[name]
            self._log.info(
                "scaler.switch_out",
                extra={"fields": {"model": name, "for": head.recipe.name}},
            )
            self._evict(name)
        head.tell(f"switching: waiting for {', '.join(sorted(self._evicting))} to stop")

    def _recheck_at(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.call_at(when, self._pump)

    async def _admit(self, claim: Claim) -> None:
        """Child task: wait, bounded, for the claim's GPU memory to be free; the verdict goes to
        ``_admitted``, which alone changes what is resident."""
        try:
            error = await self._memory_verdict(claim)
        except Exception as exc:  # NVML broke: say so rather than hold the queue forever
            error = GpuUnavailable(f"{claim.recipe.name}: cannot read GPU memory: {exc!r}")
        self._admitted(claim, error)

    async def _memory_verdict(self, claim: Claim) -> GpuUnavailable | None:
        need = claim.recipe.gpu.min_free_vram_gib
        if need is None:
            return None
        deadline = (self._released_at or -1e9) + self._settings.vram_release_timeout
        while True:
            free_bytes = await self._free_memory()
            if free_bytes is None or free_bytes >= need * _GIB:
                return None
            have = f"{free_bytes / _GIB:.1f} GiB of GPU memory free, {need:g} GiB needed"
            if self._clock.now() >= deadline:
                return GpuUnavailable(f"{claim.recipe.name} cannot start: {have}")
            claim.tell(f"waiting for GPU memory to be released: {have}")
            await asyncio.sleep(_VRAM_POLL)

    def _admitted(self, claim: Claim, error: GpuUnavailable | None) -> None:
        if not claim.granted.done():
            if error is not None:
                claim.granted.set_exception(error)
            else:
                self._resident[claim.recipe.name] = claim.recipe.gpu.count
                self._last_used[claim.recipe.name] = self._clock.now()
                claim.granted.set_result(None)
        if claim in self._queue:
            self._queue.remove(claim)
        self._admitting = None
        self._pump()
