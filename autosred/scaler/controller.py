"""One model's state machine, changed only by its owner task.

Everything outside the owner task talks to it by posting messages (acquire, release, scale…)
and awaiting futures; nothing reads its state to decide a change ("a read that gates a mutation
is a bug"). Wakes and stops run as child tasks that post their outcome back to the inbox, so the
owner never blocks and always sees events in one order.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from yarl import URL

from autosred.config import DriftAction, ScalerSettings
from autosred.engines.base import (
    Engine,
    EngineUnavailable,
    Observation,
    Observed,
    WakeFailed,
    WakeProgress,
)
from autosred.metrics import Metrics
from autosred.recipes import Recipe
from autosred.scaler.history import WakeHistory
from autosred.scaler.residency import GpuUnavailable, Residency
from autosred.scaler.state import ModelState, ModelUnavailable, Snapshot

_DEFAULT_RETRY_AFTER = 10.0


@dataclass(frozen=True)
class _Acquire:
    future: asyncio.Future[URL]


@dataclass(frozen=True)
class _Release:
    pass


@dataclass(frozen=True)
class _CancelWait:
    future: asyncio.Future[URL]


@dataclass(frozen=True)
class _ScaleUp:
    ack: asyncio.Future[Snapshot]


@dataclass(frozen=True)
class _ScaleDown:
    ack: asyncio.Future[Snapshot]


@dataclass(frozen=True)
class _Unreachable:
    pass


@dataclass(frozen=True)
class _UpdateRecipe:
    recipe: Recipe


@dataclass(frozen=True)
class _Retire:
    pass


@dataclass(frozen=True)
class _IdleCheck:
    pass


@dataclass(frozen=True)
class _Evict:
    pass


@dataclass(frozen=True)
class _EvictDeadline:
    generation: int


@dataclass(frozen=True)
class _WakeStep:
    generation: int
    progress: WakeProgress


@dataclass(frozen=True)
class _WakeDone:
    generation: int
    seconds: float
    error: str | None
    kind: str = "wake_failed"


@dataclass(frozen=True)
class _StopDone:
    generation: int
    reason: str


@dataclass(frozen=True)
class _CheckDue:
    pass


@dataclass(frozen=True)
class _Checked:
    generation: int
    observation: Observation | None
    """None when the engine could not be asked (see ``unavailable``)."""
    unavailable: str | None = None


_Message = (
    _Acquire
    | _Release
    | _CancelWait
    | _ScaleUp
    | _ScaleDown
    | _Unreachable
    | _CheckDue
    | _UpdateRecipe
    | _Retire
    | _IdleCheck
    | _Evict
    | _EvictDeadline
    | _WakeStep
    | _WakeDone
    | _StopDone
    | _Checked
)


class ModelController:
    """Owns one recipe's model server: wakes it, counts leases, puts it to sleep when idle."""

    def __init__(
        self,
        *,
        recipe: Recipe,
        engine: Engine,
        history: WakeHistory,
        residency: Residency,
        metrics: Metrics,
        settings: ScalerSettings,
        log: logging.Logger,
        on_change: Callable[[Snapshot], None],
        drift_action: DriftAction = "report",
    ) -> None:
        self._recipe = recipe
        self._drift_action = drift_action
        self._residency = residency
        self._engine = engine
        self._history = history
        self._metrics = metrics
        self._settings = settings
        self._log = log
        self._on_change = on_change
        self._inbox: asyncio.Queue[_Message] = asyncio.Queue()
        self._state = ModelState.STOPPED
        self._in_flight = 0
        self._waiters: list[asyncio.Future[URL]] = []
        self._endpoint: URL | None = None
        self._generation = 0
        self._phase: str | None = None
        self._detail = ""
        self._wake_started: float | None = None
        self._last_error: str | None = None
        self._stop_requested = False
        self._evicting = False
        self._evict_timer: asyncio.TimerHandle | None = None
        self._checking = False
        self._check_timer: asyncio.TimerHandle | None = None
        self._degraded: str | None = None
        self._adopt_pending = False
        self._drift_seen: tuple[object, ...] = ()
        self._redeploy_pending = False
        self._wake_after_stop = False
        self.adopted = asyncio.Event()
        """Set once the first look at what already runs is done (the daemon waits for it
        before READY=1, so a restarted daemon reports adopted models as ready at once)."""
        self._retiring = False
        self._idle_deadline: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._children: set[asyncio.Task[None]] = set()
        self._subscribers: set[asyncio.Queue[Snapshot]] = set()
        self.snapshot = Snapshot(name=recipe.name, state=ModelState.STOPPED)

    @property
    def recipe(self) -> Recipe:
        return self._recipe

    # ----------------------------------------------------------------- messages from outside

    def acquire(self) -> asyncio.Future[URL]:
        """A future that resolves to the endpoint once a lease is granted (count it in-flight)."""
        future: asyncio.Future[URL] = asyncio.get_running_loop().create_future()
        self._post(_Acquire(future))
        return future

    def release(self) -> None:
        self._post(_Release())

    def _post(self, message: _Acquire | _Release) -> None:
        """Leases on a ready model are the hot path. With nothing queued ahead, handling the
        message right here is exactly what the owner would do next (this runs on the loop,
        without awaiting, so nothing interleaves) minus two trips through the event loop."""
        if self._inbox.empty() and self._state is ModelState.READY and not self._evicting:
            self._handle(message)
        else:
            self._inbox.put_nowait(message)

    def cancel_wait(self, future: asyncio.Future[URL]) -> None:
        self._inbox.put_nowait(_CancelWait(future))

    def scale_up(self) -> asyncio.Future[Snapshot]:
        """Wake unless awake or waking; resolves to the state once the owner took the request."""
        ack: asyncio.Future[Snapshot] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_ScaleUp(ack))
        return ack

    def scale_down(self) -> asyncio.Future[Snapshot]:
        """Stop once nothing is in flight; resolves to the state once the owner took it."""
        ack: asyncio.Future[Snapshot] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_ScaleDown(ack))
        return ack

    def evict(self) -> None:
        """Another model needs the GPUs: drain (bounded) and stop; hold new requests."""
        self._inbox.put_nowait(_Evict())

    def report_unreachable(self) -> None:
        """A surface could not connect: the owner checks whether the server died."""
        self._inbox.put_nowait(_Unreachable())

    def update_recipe(self, recipe: Recipe) -> None:
        self._inbox.put_nowait(_UpdateRecipe(recipe))

    def retire(self) -> None:
        """The recipe was removed: stop once idle, then end the owner task."""
        self._inbox.put_nowait(_Retire())

    def subscribe(self) -> asyncio.Queue[Snapshot]:
        queue: asyncio.Queue[Snapshot] = asyncio.Queue()
        queue.put_nowait(self.snapshot)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Snapshot]) -> None:
        self._subscribers.discard(queue)

    # ----------------------------------------------------------------------- the owner task

    async def run(self) -> None:
        """The owner loop; returns when the recipe is retired, or is cancelled at shutdown."""
        try:
            await self._adopt()
            while True:
                message = await self._inbox.get()
                if self._handle(message):
                    return
        finally:
            self._shutdown()

    async def _adopt(self) -> None:
        """After a daemon restart a server may already run: take it over instead of waking."""
        try:
            observation = await self._engine.observe(self._recipe)
        except EngineUnavailable as exc:
            # The state is unknown, not stopped: look again until the engine answers.
            self._degraded = exc.reason
            self._adopt_pending = True
            self._arm_check_timer()
            observation = None
        except Exception as exc:
            self._log.warning(
                "scaler.observe_failed",
                extra={"fields": {"model": self._recipe.name, "error": str(exc)}},
            )
            observation = None
        if observation is not None:
            self._take_over(observation)
        self.adopted.set()
        self._publish()

    def _take_over(self, observation: Observation) -> None:
        if observation.state is not Observed.RUNNING or self._state is not ModelState.STOPPED:
            return
        self._endpoint = self._engine.endpoint(self._recipe)
        self._state = ModelState.READY
        self._adopt_pending = False
        self._residency.adopt(self._recipe)
        self._log.info(
            "scaler.adopted",
            extra={"fields": {"model": self._recipe.name, "drift": len(observation.drift)}},
        )
        self._arm_idle_timer()
        self._arm_check_timer()
        self._on_drift(observation)

    def _handle(self, message: _Message) -> bool:
        """Apply one message; True ends the owner task."""
        match message:
            case _Acquire(future):
                self._on_acquire(future)
            case _Release():
                self._in_flight -= 1
                self._after_release()
            case _CancelWait(future):
                if future in self._waiters:
                    self._waiters.remove(future)
            case _ScaleUp():
                self._on_scale_up()
            case _ScaleDown():
                self._stop_requested = self._state not in (ModelState.STOPPED, ModelState.FAILED)
                if self._state is ModelState.READY and self._in_flight == 0:
                    self._begin_stop("admin")
            case _Unreachable():
                self._check_now()
            case _CheckDue():
                self._check_timer = None
                if self._state is ModelState.READY or self._adopt_pending:
                    self._check_now()
                    self._arm_check_timer()
            case _Checked(generation, observation, unavailable):
                self._checking = False
                if generation == self._generation:
                    self._on_checked(observation, unavailable)
            case _UpdateRecipe(recipe):
                self._recipe = recipe
                if self._idle_deadline is not None:
                    self._arm_idle_timer()
                self._check_now()  # does what runs still match the recipe?
            case _Retire():
                self._retiring = True
                self._fail_waiters("the model was removed from the configuration", kind="removed")
                if self._state in (ModelState.STOPPED, ModelState.FAILED):
                    return True
                if self._state is ModelState.READY and self._in_flight == 0:
                    self._begin_stop("removed")
            case _IdleCheck():
                self._on_idle_check()
            case _Evict():
                self._on_evict()
            case _EvictDeadline(generation):
                if generation == self._generation and self._state is ModelState.READY:
                    self._log.warning(
                        "scaler.switch_cut_short",
                        extra={
                            "fields": {"model": self._recipe.name, "in_flight": self._in_flight}
                        },
                    )
                    self._begin_stop("switch")
            case _WakeStep(generation, progress):
                if generation == self._generation and self._state is ModelState.STARTING:
                    self._phase, self._detail = progress.phase, progress.detail
            case _WakeDone(generation, seconds, error, kind):
                if generation == self._generation:
                    self._on_wake_done(seconds, error, kind)
            case _StopDone(generation, reason):
                if generation == self._generation and self._on_stop_done(reason):
                    return True
        self._publish()
        if isinstance(message, _ScaleUp | _ScaleDown) and not message.ack.done():
            message.ack.set_result(self.snapshot)
        return False

    def _on_acquire(self, future: asyncio.Future[URL]) -> None:
        if future.done():
            return
        if self._retiring:
            future.set_exception(
                ModelUnavailable(
                    "the model was removed from the configuration", retry_after=1, kind="removed"
                )
            )
            return
        if self._state is ModelState.READY and self._endpoint is not None and not self._evicting:
            self._grant(future, self._endpoint)
            return
        live = [waiter for waiter in self._waiters if not waiter.done()]
        if len(live) >= self._recipe.hold_cap:
            self._metrics.upstream_errors.labels(model=self._recipe.name, kind="hold_cap").inc()
            future.set_exception(
                ModelUnavailable(
                    f"{len(live)} requests already wait for {self._recipe.name} to wake "
                    f"(hold cap {self._recipe.hold_cap})",
                    retry_after=self._retry_after(),
                    kind="hold_cap",
                )
            )
            return
        self._waiters = [*live, future]
        if self._state in (ModelState.STOPPED, ModelState.FAILED):
            self._begin_wake("request")

    def _grant(self, future: asyncio.Future[URL], endpoint: URL) -> None:
        self._in_flight += 1
        self._residency.used(self._recipe.name)
        self._cancel_idle_timer()
        future.set_result(endpoint)

    def _after_release(self) -> None:
        if self._in_flight > 0 or self._state is not ModelState.READY:
            return
        if self._retiring:
            self._begin_stop("removed")
        elif self._evicting:
            self._begin_stop("switch")
        elif self._stop_requested:
            self._begin_stop("admin")
        elif self._redeploy_pending:
            # Drift is acted on only here, with nothing in flight: never mid-stream.
            self._redeploy_pending = False
            self._wake_after_stop = True
            self._begin_stop("drift")
        else:
            self._arm_idle_timer()

    def _on_scale_up(self) -> None:
        self._stop_requested = False
        if self._state in (ModelState.STOPPED, ModelState.FAILED):
            self._begin_wake("admin")
        elif self._state is ModelState.READY and self._in_flight == 0:
            self._arm_idle_timer()

    def _on_evict(self) -> None:
        if self._state in (ModelState.STOPPED, ModelState.FAILED):
            self._residency.released(self._recipe.name)
        elif self._state is ModelState.READY and not self._evicting:
            self._evicting = True
            if self._in_flight == 0:
                self._begin_stop("switch")
            else:
                self._evict_timer = asyncio.get_running_loop().call_later(
                    self._settings.switch_drain_timeout,
                    self._inbox.put_nowait,
                    _EvictDeadline(self._generation),
                )

    def _on_idle_check(self) -> None:
        self._idle_timer = None
        deadline = self._idle_deadline
        if deadline is None or self._state is not ModelState.READY or self._in_flight:
            return
        if asyncio.get_running_loop().time() < deadline:
            self._arm_idle_timer(deadline)
            return
        self._begin_stop("idle")

    # ----------------------------------------------------------------------- wake and stop

    def _begin_wake(self, reason: str) -> None:
        self._generation += 1
        self._state = ModelState.STARTING
        self._phase, self._detail = "starting", ""
        self._wake_started = asyncio.get_running_loop().time()
        self._last_error = None
        self._cancel_idle_timer()
        self._metrics.scale_events.labels(
            model=self._recipe.name, direction="up", reason=reason
        ).inc()
        self._log.info(
            "scaler.wake_started",
            extra={"fields": {"model": self._recipe.name, "reason": reason, "eta": self._eta()}},
        )
        self._spawn(self._wake(self._generation, self._recipe))

    async def _wake(self, generation: int, recipe: Recipe) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        last = WakeProgress("starting")
        error: str | None = None
        kind = "wake_failed"

        def waiting(reason: str) -> None:
            self._inbox.put_nowait(_WakeStep(generation, WakeProgress("waiting for GPU", reason)))

        claim = self._residency.request(recipe, on_reason=waiting)
        try:
            async with asyncio.timeout(recipe.wake_budget or None):
                await claim.granted
                async for progress in self._engine.start(recipe):
                    last = progress
                    self._inbox.put_nowait(_WakeStep(generation, progress))
        except TimeoutError:
            # The last progress detail says why (e.g. "not answering at URL: refused").
            where = f"{last.phase}: {last.detail}" if last.detail else last.phase
            if not claim.granted.done() or claim.granted.cancelled():
                where = f"waiting for GPU: {claim.reason}"
            error = (
                f"{recipe.name} did not become ready within its wake budget of "
                f"{recipe.wake_budget:g} s (last phase: {where})"
            )
        except GpuUnavailable as exc:
            error, kind = exc.reason, "gpu"
        except WakeFailed as exc:
            error = exc.reason
        except asyncio.CancelledError:
            self._residency.withdraw(claim)
            raise
        except Exception as exc:
            self._log.exception("scaler.wake_crashed", extra={"fields": {"model": recipe.name}})
            error = f"{recipe.name} could not be started: {exc!r}"
        if error is not None:
            # Leave nothing half-started behind a failed wake.
            try:
                await self._engine.stop(recipe)
            except Exception:
                self._log.exception(
                    "scaler.cleanup_failed", extra={"fields": {"model": recipe.name}}
                )
            self._residency.withdraw(claim)
        self._inbox.put_nowait(_WakeDone(generation, loop.time() - started, error, kind))

    def _on_wake_done(self, seconds: float, error: str | None, kind: str) -> None:
        name = self._recipe.name
        self._phase, self._detail, self._wake_started = None, "", None
        if error is not None:
            self._state = ModelState.FAILED
            self._last_error = error
            self._metrics.wake_duration.labels(model=name, outcome="failed").observe(seconds)
            self._metrics.scale_events.labels(model=name, direction="up", reason="failed").inc()
            self._log.error(
                "scaler.wake_failed",
                extra={"fields": {"model": name, "seconds": round(seconds, 3), "reason": error}},
            )
            self._fail_waiters(error, kind=kind)
            self._stop_requested = False
            return
        self._state = ModelState.READY
        self._endpoint = self._engine.endpoint(self._recipe)
        self._history.record(name, seconds)
        self._residency.ready(name)
        self._arm_check_timer()
        self._metrics.wake_duration.labels(model=name, outcome="ready").observe(seconds)
        self._log.info(
            "scaler.ready",
            extra={
                "fields": {"model": name, "seconds": round(seconds, 3), "held": len(self._waiters)}
            },
        )
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                self._grant(waiter, self._endpoint)
        self._after_release()

    def _begin_stop(self, reason: str) -> None:
        self._generation += 1
        self._state = ModelState.STOPPING
        self._cancel_idle_timer()
        self._metrics.scale_events.labels(
            model=self._recipe.name, direction="down", reason=reason
        ).inc()
        self._log.info(
            "scaler.stop_started", extra={"fields": {"model": self._recipe.name, "reason": reason}}
        )
        self._spawn(self._stop(self._generation, self._recipe, reason))

    async def _stop(self, generation: int, recipe: Recipe, reason: str) -> None:
        try:
            await self._engine.stop(recipe)
        except Exception:
            self._log.exception("scaler.stop_failed", extra={"fields": {"model": recipe.name}})
        self._inbox.put_nowait(_StopDone(generation, reason))

    def _on_stop_done(self, reason: str) -> bool:
        self._state = ModelState.STOPPED
        self._endpoint = None
        self._stop_requested = False
        self._evicting = False
        if self._evict_timer is not None:
            self._evict_timer.cancel()
            self._evict_timer = None
        self._residency.released(self._recipe.name)
        self._log.info(
            "scaler.stopped", extra={"fields": {"model": self._recipe.name, "reason": reason}}
        )
        if self._retiring:
            return True
        if self._wake_after_stop:
            self._wake_after_stop = False
            self._begin_wake("drift")
        elif any(not waiter.done() for waiter in self._waiters):
            self._begin_wake("request")
        return False

    def _check_now(self) -> None:
        """Ask the engine what runs (one check at a time): only while a server should be up,
        or while a start-up adoption is pending — a model at zero costs nothing."""
        if self._checking or not (self._state is ModelState.READY or self._adopt_pending):
            return
        self._checking = True
        self._spawn(self._check(self._generation))

    async def _check(self, generation: int) -> None:
        try:
            observation = await self._engine.observe(self._recipe)
        except EngineUnavailable as exc:
            self._inbox.put_nowait(_Checked(generation, None, exc.reason))
            return
        except Exception as exc:
            self._log.warning(
                "scaler.observe_failed",
                extra={"fields": {"model": self._recipe.name, "error": str(exc)}},
            )
            observation = Observation(Observed.FAILED, str(exc))
        self._inbox.put_nowait(_Checked(generation, observation))

    def _on_checked(self, observation: Observation | None, unavailable: str | None) -> None:
        name = self._recipe.name
        if observation is None:
            # Serving goes on through the endpoint we have; only the supervision is blind.
            if self._degraded != unavailable:
                self._log.warning(
                    "scaler.degraded", extra={"fields": {"model": name, "reason": unavailable}}
                )
            self._degraded = unavailable
            return
        if self._degraded is not None:
            self._log.info("scaler.recovered", extra={"fields": {"model": name}})
            self._degraded = None
        if self._adopt_pending and self._state is ModelState.STOPPED:
            self._adopt_pending = False
            self._take_over(observation)
            return
        if self._state is not ModelState.READY:
            return
        if observation.state in (Observed.RUNNING, Observed.STARTING):
            # A replaced pod comes back on a new address.
            try:
                self._endpoint = self._engine.endpoint(self._recipe)
            except Exception:
                pass
            self._on_drift(observation)
            return
        self._log.warning(
            "scaler.server_died",
            extra={"fields": {"model": name, "detail": observation.detail}},
        )
        self._begin_stop("died")

    def _on_drift(self, observation: Observation) -> None:
        drift = tuple(observation.drift)
        if drift and drift != self._drift_seen:
            self._log.warning(
                "scaler.drift",
                extra={
                    "fields": {
                        "model": self._recipe.name,
                        "fields": len(drift),
                        "action": self._drift_action,
                    }
                },
            )
        self._drift_seen = drift
        if drift and self._drift_action == "redeploy" and not self._wake_after_stop:
            self._redeploy_pending = True
            self._after_release()  # at once when idle; else after the last stream
        elif not drift:
            self._redeploy_pending = False

    def _arm_check_timer(self) -> None:
        if self._check_timer is not None:
            return
        self._check_timer = asyncio.get_running_loop().call_later(
            self._settings.health_check_interval, self._inbox.put_nowait, _CheckDue()
        )

    # ----------------------------------------------------------------------------- helpers

    def _fail_waiters(self, reason: str, *, kind: str) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(
                    ModelUnavailable(reason, retry_after=self._retry_after(), kind=kind)
                )

    def _eta(self) -> float | None:
        expected = self._history.expected(self._recipe.name)
        if expected is None or self._wake_started is None:
            return expected
        elapsed = asyncio.get_running_loop().time() - self._wake_started
        return max(1.0, expected - elapsed)

    def _retry_after(self) -> float:
        eta = self._eta() if self._state is ModelState.STARTING else None
        return float(math.ceil(eta)) if eta is not None else _DEFAULT_RETRY_AFTER

    def _arm_idle_timer(self, deadline: float | None = None) -> None:
        self._cancel_idle_timer()
        timeout = self._recipe.idle_timeout
        if timeout <= 0:
            return
        loop = asyncio.get_running_loop()
        self._idle_deadline = deadline if deadline is not None else loop.time() + timeout
        # Re-check no later than idle_check_interval so a changed recipe takes effect promptly.
        when = min(self._idle_deadline, loop.time() + self._settings.idle_check_interval)
        self._idle_timer = loop.call_at(when, self._inbox.put_nowait, _IdleCheck())

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._idle_deadline = None

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine, name=f"scaler:{self._recipe.name}")
        self._children.add(task)
        task.add_done_callback(self._children.discard)

    def _publish(self) -> None:
        name = self._recipe.name
        idle_deadline = self._idle_deadline
        snapshot = Snapshot(
            name=name,
            state=self._state,
            in_flight=self._in_flight,
            held=sum(1 for waiter in self._waiters if not waiter.done()),
            phase=self._phase,
            detail=self._detail,
            eta_seconds=self._eta() if self._state is ModelState.STARTING else None,
            last_wake_seconds=self._history.last(name),
            idle_deadline=(
                time.time() + idle_deadline - asyncio.get_running_loop().time()
                if idle_deadline is not None
                else None
            ),
            last_error=self._last_error,
            degraded=self._degraded,
            endpoint=str(self._endpoint).rstrip("/") if self._endpoint is not None else None,
        )
        if snapshot == self.snapshot:
            return
        changed_state = snapshot.state is not self.snapshot.state
        self.snapshot = snapshot
        self._metrics.in_flight.labels(model=name).set(snapshot.in_flight)
        self._metrics.held.labels(model=name).set(snapshot.held)
        if changed_state:
            self._metrics.set_engine_state(name, snapshot.state.value)
        for queue in self._subscribers:
            queue.put_nowait(snapshot)
        self._on_change(snapshot)

    def _shutdown(self) -> None:
        self._cancel_idle_timer()
        if self._check_timer is not None:
            self._check_timer.cancel()
        if self._evict_timer is not None:
            self._evict_timer.cancel()
        for task in self._children:
            task.cancel()
        self._fail_waiters("autosred is shutting down", kind="shutting_down")
        final = replace(self.snapshot, held=0)
        for queue in self._subscribers:
            queue.put_nowait(final)
