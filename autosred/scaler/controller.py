"""One model's state machine, changed only by its owner task.

Everything outside the owner task talks to it by posting messages (acquire, release, scale…)
and awaiting futures; nothing reads its state to decide a change ("a read that gates a mutation
is a bug"). Wakes, stops and checks run as child tasks that post their outcome back to the
inbox, so the owner never blocks and always sees events in one order. The residency (who holds
the GPUs) is told of this model's changes by the owner only, never by a child task.

The clock and the child tasks are injected (autosred.scaler.loop), so every transition is a
synchronous ``handle(message)`` that tests/scaler drives against a fake engine.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import replace

from yarl import URL

from autosred.config import DriftAction, ScalerSettings
from autosred.engines.base import (
    Engine,
    EngineUnavailable,
    Observation,
    Observed,
    Ready,
    WakeFailed,
    WakeProgress,
)
from autosred.metrics import Metrics
from autosred.recipes import Recipe
from autosred.recipes.drift import FieldDrift
from autosred.scaler.drain import ADMIN, REDEPLOY, REMOVED, SWITCH, Drain, stronger
from autosred.scaler.history import WakeHistory
from autosred.scaler.loop import Clock, LoopClock, LoopTasks, Tasks, Timer
from autosred.scaler.messages import (
    Acquire,
    CancelWait,
    CheckDue,
    Checked,
    Evict,
    EvictDeadline,
    IdleCheck,
    Message,
    Release,
    Retire,
    ScaleDown,
    ScaleUp,
    StopDone,
    Unreachable,
    UpdateRecipe,
    WakeDone,
    WakeFailure,
    WakeStep,
)
from autosred.scaler.residency import Claim, GpuUnavailable, Residency
from autosred.scaler.state import ModelState, ModelUnavailable, Snapshot

_DEFAULT_RETRY_AFTER = 10.0
_AT_ZERO = (ModelState.STOPPED, ModelState.FAILED)


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
        clock: Clock | None = None,
        tasks: Tasks | None = None,
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
        self._clock = clock or LoopClock()
        self._tasks = tasks or LoopTasks()
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._state = ModelState.STOPPED
        self._in_flight = 0
        self._waiters: list[asyncio.Future[URL]] = []
        self._endpoint: URL | None = None
        self._generation = 0
        self._phase: str | None = None
        self._detail = ""
        self._wake_started: float | None = None
        self._claim: Claim | None = None
        """The GPU claim of the wake under way (the owner withdraws it if the wake fails)."""
        self._last_error: str | None = None
        self._drain: Drain | None = None
        """What to do once nothing is in flight; None: arm the idle timer."""
        self._evict_timer: Timer | None = None
        self._checking = False
        self._check_timer: Timer | None = None
        self._degraded: str | None = None
        self._adopt_pending = False
        self._drift_seen: tuple[FieldDrift, ...] = ()
        self.adopted = asyncio.Event()
        """Set once the first look at what already runs is done (the daemon waits for it
        before READY=1, so a restarted daemon reports adopted models as ready at once)."""
        self._idle_deadline: float | None = None
        self._idle_timer: Timer | None = None
        self._subscribers: set[asyncio.Queue[Snapshot]] = set()
        self.snapshot = Snapshot(name=recipe.name, state=ModelState.STOPPED)
        # Exported from the start: _publish sets the gauges only on a change, and a model
        # that stays at zero would never appear (Grafana's model list, its state timeline).
        metrics.set_engine_state(recipe.name, ModelState.STOPPED.value)
        metrics.in_flight.labels(model=recipe.name).set(0)
        metrics.held.labels(model=recipe.name).set(0)

    @property
    def recipe(self) -> Recipe:
        return self._recipe

    @property
    def generation(self) -> int:
        """Which wake or stop is current: a child's report of an older one is ignored."""
        return self._generation

    @property
    def pending(self) -> Drain | None:
        """What the owner does once nothing is in flight (read-only, for tests and logs)."""
        return self._drain

    # ----------------------------------------------------------------- messages from outside

    def acquire(self) -> asyncio.Future[URL]:
        """A future that resolves to the endpoint once a lease is granted (count it in-flight)."""
        future: asyncio.Future[URL] = asyncio.get_running_loop().create_future()
        self._post(Acquire(future))
        return future

    def release(self) -> None:
        self._post(Release())

    def _post(self, message: Acquire | Release) -> None:
        """Leases on a ready model are the hot path. With nothing queued ahead, handling the
        message right here is exactly what the owner would do next (this runs on the loop,
        without awaiting, so nothing interleaves) minus two trips through the event loop."""
        if self._inbox.empty() and self._state is ModelState.READY and not self._holding():
            self.handle(message)
        else:
            self._inbox.put_nowait(message)

    def cancel_wait(self, future: asyncio.Future[URL]) -> None:
        self._inbox.put_nowait(CancelWait(future))

    def scale_up(self) -> asyncio.Future[Snapshot]:
        """Wake unless awake or waking; resolves to the state once the owner took the request."""
        ack: asyncio.Future[Snapshot] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(ScaleUp(ack))
        return ack

    def scale_down(self) -> asyncio.Future[Snapshot]:
        """Stop once nothing is in flight; resolves to the state once the owner took it."""
        ack: asyncio.Future[Snapshot] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(ScaleDown(ack))
        return ack

    def evict(self) -> None:
        """Another model needs the GPUs: drain (bounded) and stop; hold new requests."""
        self._inbox.put_nowait(Evict())

    def report_unreachable(self) -> None:
        """A surface could not connect: the owner checks whether the server died."""
        self._inbox.put_nowait(Unreachable())

    def update_recipe(self, recipe: Recipe) -> None:
        self._inbox.put_nowait(UpdateRecipe(recipe))

    def retire(self) -> None:
        """The recipe was removed: stop once idle, then end the owner task."""
        self._inbox.put_nowait(Retire())

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
                if self.handle(message):
                    return
        finally:
            self.shutdown()

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
        if (
            observation.state is not Observed.RUNNING
            or observation.endpoint is None
            or self._state is not ModelState.STOPPED
        ):
            return
        self._endpoint = observation.endpoint
        self._state = ModelState.READY
        self._adopt_pending = False
        self._residency.adopt(self._recipe)
        self._log.info(
            "scaler.adopted",
            extra={"fields": {"model": self._recipe.name, "drift": len(observation.drift or ())}},
        )
        self._arm_idle_timer()
        self._arm_check_timer()
        self._on_drift(observation.drift)

    def handle(self, message: Message) -> bool:
        """Apply one message; True ends the owner task."""
        ended = False
        match message:
            case Acquire(future):
                self._on_acquire(future)
            case Release():
                self._in_flight -= 1
                self._after_release()
            case CancelWait(future):
                if future in self._waiters:
                    self._waiters.remove(future)
            case ScaleUp():
                self._on_scale_up()
            case ScaleDown():
                if self._state not in _AT_ZERO:
                    self._wish(ADMIN)
            case Unreachable():
                self._check_now()
            case CheckDue():
                self._check_timer = None
                if self._state is ModelState.READY or self._adopt_pending:
                    self._check_now()
                    self._arm_check_timer()
            case Checked(generation, observation, unavailable):
                self._checking = False
                if generation == self._generation:
                    self._on_checked(observation, unavailable)
            case UpdateRecipe(recipe):
                self._recipe = recipe
                if self._idle_deadline is not None:
                    self._arm_idle_timer()
                self._check_now()  # does what runs still match the recipe?
            case Retire():
                self._fail_waiters("the model was removed from the configuration", kind="removed")
                if self._state in _AT_ZERO:
                    return True
                self._wish(REMOVED)
            case IdleCheck():
                self._on_idle_check()
            case Evict():
                self._on_evict()
            case EvictDeadline(generation):
                if generation == self._generation and self._state is ModelState.READY:
                    self._log.warning(
                        "scaler.switch_cut_short",
                        extra={
                            "fields": {"model": self._recipe.name, "in_flight": self._in_flight}
                        },
                    )
                    self._begin_stop("switch")
            case WakeStep(generation, progress):
                if generation == self._generation and self._state is ModelState.STARTING:
                    self._phase, self._detail = progress.phase, progress.detail
            case WakeDone(generation, seconds, outcome):
                if generation == self._generation:
                    ended = self._on_wake_done(seconds, outcome)
            case StopDone(generation, reason):
                if generation == self._generation:
                    ended = self._on_stop_done(reason)
        if ended:
            return True
        self._publish()
        if isinstance(message, ScaleUp | ScaleDown) and not message.ack.done():
            message.ack.set_result(self.snapshot)
        return False

    def _holding(self) -> bool:
        return self._drain is not None and self._drain.holds_requests

    def _wish(self, drain: Drain) -> None:
        """Stop once drained, for the strongest reason pending; at once when idle now."""
        self._drain = stronger(self._drain, drain)
        self._after_release()

    def _on_acquire(self, future: asyncio.Future[URL]) -> None:
        if future.done():
            return
        if self._drain is not None and self._drain.ends_owner:
            future.set_exception(
                ModelUnavailable(
                    "the model was removed from the configuration", retry_after=1, kind="removed"
                )
            )
            return
        if self._state is ModelState.READY and self._endpoint is not None and not self._holding():
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
        if self._state in _AT_ZERO:
            self._begin_wake("request")

    def _grant(self, future: asyncio.Future[URL], endpoint: URL) -> None:
        self._in_flight += 1
        self._residency.used(self._recipe.name)
        self._cancel_idle_timer()
        future.set_result(endpoint)

    def _after_release(self) -> None:
        if self._in_flight > 0 or self._state is not ModelState.READY:
            return
        if self._drain is not None:
            # Drift is acted on only here, with nothing in flight: never mid-stream.
            self._begin_stop(self._drain.reason)
        else:
            self._arm_idle_timer()

    def _on_scale_up(self) -> None:
        if self._drain == ADMIN:
            self._drain = None
        if self._state in _AT_ZERO:
            self._begin_wake("admin")
        elif self._state is ModelState.READY and self._in_flight == 0:
            self._arm_idle_timer()

    def _on_evict(self) -> None:
        if self._state in _AT_ZERO:
            self._residency.released(self._recipe.name)
        elif self._state is ModelState.READY and not self._holding():
            self._wish(SWITCH)
            if self._state is ModelState.READY and self._holding():
                # Still streaming: the drain is bounded.
                generation = self._generation
                self._evict_timer = self._clock.call_at(
                    self._clock.now() + self._settings.switch_drain_timeout,
                    lambda: self._inbox.put_nowait(EvictDeadline(generation)),
                )

    def _on_idle_check(self) -> None:
        self._idle_timer = None
        deadline = self._idle_deadline
        if deadline is None or self._state is not ModelState.READY or self._in_flight:
            return
        if self._clock.now() < deadline:
            self._arm_idle_timer(deadline)
            return
        self._begin_stop("idle")

    # ----------------------------------------------------------------------- wake and stop

    def _begin_wake(self, reason: str) -> None:
        self._generation += 1
        generation = self._generation
        self._state = ModelState.STARTING
        self._phase, self._detail = "starting", ""
        self._wake_started = self._clock.now()
        self._last_error = None
        self._cancel_idle_timer()
        self._metrics.scale_events.labels(
            model=self._recipe.name, direction="up", reason=reason
        ).inc()
        self._log.info(
            "scaler.wake_started",
            extra={"fields": {"model": self._recipe.name, "reason": reason, "eta": self._eta()}},
        )

        def waiting(why: str) -> None:
            self._inbox.put_nowait(WakeStep(generation, WakeProgress("waiting for GPU", why)))

        self._claim = self._residency.request(self._recipe, on_reason=waiting)
        self._tasks.spawn(
            self._wake(generation, self._recipe, self._claim),
            name=f"scaler.wake:{self._recipe.name}",
        )

    async def _wake(self, generation: int, recipe: Recipe, claim: Claim) -> None:
        """Child task: wait for the GPUs, run the engine's start; post the outcome."""
        started = self._clock.now()
        last = WakeProgress("starting")
        outcome: Ready | WakeFailure | None = None
        try:
            async with asyncio.timeout(recipe.wake_budget or None):
                await claim.granted
                async for progress in self._engine.start(recipe):
                    last = progress
                    if isinstance(progress, Ready):
                        outcome = progress
                    else:
                        self._inbox.put_nowait(WakeStep(generation, progress))
            if outcome is None:
                outcome = WakeFailure(
                    f"{recipe.name}: the {self._engine.kind} engine finished its start "
                    "without reporting where the server answers"
                )
        except TimeoutError:
            # The last progress detail says why (e.g. "not answering at URL: refused").
            where = f"{last.phase}: {last.detail}" if last.detail else last.phase
            if not claim.granted.done() or claim.granted.cancelled():
                where = f"waiting for GPU: {claim.reason}"
            outcome = WakeFailure(
                f"{recipe.name} did not become ready within its wake budget of "
                f"{recipe.wake_budget:g} s (last phase: {where})"
            )
        except GpuUnavailable as exc:
            outcome = WakeFailure(exc.reason, kind="gpu")
        except WakeFailed as exc:
            outcome = WakeFailure(exc.reason)
        except Exception as exc:
            self._log.exception("scaler.wake_crashed", extra={"fields": {"model": recipe.name}})
            outcome = WakeFailure(f"{recipe.name} could not be started: {exc!r}")
        if isinstance(outcome, WakeFailure):
            # Leave nothing half-started behind a failed wake.
            try:
                await self._engine.stop(recipe)
            except Exception:
                self._log.exception(
                    "scaler.cleanup_failed", extra={"fields": {"model": recipe.name}}
                )
        self._inbox.put_nowait(WakeDone(generation, self._clock.now() - started, outcome))

    def _on_wake_done(self, seconds: float, outcome: Ready | WakeFailure) -> bool:
        name = self._recipe.name
        claim, self._claim = self._claim, None
        self._phase, self._detail, self._wake_started = None, "", None
        if isinstance(outcome, WakeFailure):
            if claim is not None:
                self._residency.withdraw(claim)
            self._state = ModelState.FAILED
            self._last_error = outcome.reason
            self._metrics.wake_duration.labels(model=name, outcome="failed").observe(seconds)
            self._metrics.scale_events.labels(model=name, direction="up", reason="failed").inc()
            self._log.error(
                "scaler.wake_failed",
                extra={
                    "fields": {
                        "model": name,
                        "seconds": round(seconds, 3),
                        "reason": outcome.reason,
                    }
                },
            )
            self._fail_waiters(outcome.reason, kind=outcome.kind)
            drain, self._drain = self._drain, None
            return drain is not None and drain.ends_owner
        self._state = ModelState.READY
        self._endpoint = outcome.url
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
                self._grant(waiter, outcome.url)
        self._on_drift(outcome.drift)
        self._after_release()
        return False

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
        self._tasks.spawn(
            self._stop(self._generation, self._recipe, reason),
            name=f"scaler.stop:{self._recipe.name}",
        )

    async def _stop(self, generation: int, recipe: Recipe, reason: str) -> None:
        """Child task: stop the server; post that it stopped (a failed stop is logged)."""
        try:
            await self._engine.stop(recipe)
        except Exception:
            self._log.exception("scaler.stop_failed", extra={"fields": {"model": recipe.name}})
        self._inbox.put_nowait(StopDone(generation, reason))

    def _on_stop_done(self, reason: str) -> bool:
        self._state = ModelState.STOPPED
        self._endpoint = None
        drain, self._drain = self._drain, None
        if self._evict_timer is not None:
            self._evict_timer.cancel()
            self._evict_timer = None
        self._residency.released(self._recipe.name)
        self._log.info(
            "scaler.stopped", extra={"fields": {"model": self._recipe.name, "reason": reason}}
        )
        if drain is not None and drain.ends_owner:
            return True
        if drain is not None and drain.wake_again:
            self._begin_wake(drain.reason)
        elif any(not waiter.done() for waiter in self._waiters):
            self._begin_wake("request")
        return False

    # ------------------------------------------------------------------------------ checks

    def _check_now(self) -> None:
        """Ask the engine what runs (one check at a time): only while a server should be up,
        or while a start-up adoption is pending — a model at zero costs nothing."""
        if self._checking or not (self._state is ModelState.READY or self._adopt_pending):
            return
        self._checking = True
        self._tasks.spawn(self._check(self._generation), name=f"scaler.check:{self._recipe.name}")

    async def _check(self, generation: int) -> None:
        """Child task: observe what runs; post the observation."""
        try:
            observation = await self._engine.observe(self._recipe)
        except EngineUnavailable as exc:
            self._inbox.put_nowait(Checked(generation, None, exc.reason))
            return
        except Exception as exc:
            self._log.warning(
                "scaler.observe_failed",
                extra={"fields": {"model": self._recipe.name, "error": str(exc)}},
            )
            observation = Observation(Observed.FAILED, str(exc))
        self._inbox.put_nowait(Checked(generation, observation))

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
            if observation.endpoint is not None:
                self._endpoint = observation.endpoint  # a replaced pod has a new address
            self._on_drift(observation.drift)
            return
        self._log.warning(
            "scaler.server_died",
            extra={"fields": {"model": name, "detail": observation.detail}},
        )
        self._begin_stop("died")

    def _on_drift(self, drift: tuple[FieldDrift, ...] | None) -> None:
        """The one place drift is logged (once per change) and exported; None: the engine
        cannot tell."""
        if drift is None:
            return
        name = self._recipe.name
        self._metrics.drift.labels(model=name).set(len(drift))
        if drift != self._drift_seen:
            if drift:
                self._log.warning(
                    "scaler.drift",
                    extra={
                        "fields": {
                            "model": name,
                            "fields": ",".join(item.field for item in drift),
                            "action": self._drift_action,
                        }
                    },
                )
            else:
                self._log.info("scaler.drift_resolved", extra={"fields": {"model": name}})
        self._drift_seen = drift
        if drift and self._drift_action == "redeploy":
            self._wish(REDEPLOY)  # at once when idle; else after the last stream
        elif not drift and self._drain == REDEPLOY:
            self._drain = None

    def _arm_check_timer(self) -> None:
        if self._check_timer is not None:
            return
        self._check_timer = self._clock.call_at(
            self._clock.now() + self._settings.health_check_interval,
            lambda: self._inbox.put_nowait(CheckDue()),
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
        elapsed = self._clock.now() - self._wake_started
        return max(1.0, expected - elapsed)

    def _retry_after(self) -> float:
        eta = self._eta() if self._state is ModelState.STARTING else None
        return float(math.ceil(eta)) if eta is not None else _DEFAULT_RETRY_AFTER

    def _arm_idle_timer(self, deadline: float | None = None) -> None:
        self._cancel_idle_timer()
        timeout = self._recipe.idle_timeout
        if timeout <= 0:
            return
        now = self._clock.now()
        self._idle_deadline = deadline if deadline is not None else now + timeout
        # Re-check no later than idle_check_interval so a changed recipe takes effect promptly.
        when = min(self._idle_deadline, now + self._settings.idle_check_interval)
        self._idle_timer = self._clock.call_at(when, lambda: self._inbox.put_nowait(IdleCheck()))

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._idle_deadline = None

    def _publish(self) -> None:
        name = self._recipe.name
        idle_deadline = self._idle_deadline
        ready = self._state is ModelState.READY
        previous = self.snapshot
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
                self._clock.wall() + idle_deadline - self._clock.now()
                if idle_deadline is not None
                else None
            ),
            last_error=self._last_error,
            degraded=self._degraded,
            endpoint=str(self._endpoint).rstrip("/") if self._endpoint is not None else None,
            ready_since=(
                (previous.ready_since or self._clock.wall())
                if ready and previous.state is ModelState.READY
                else (self._clock.wall() if ready else None)
            ),
            drift=self._drift_seen if ready else (),
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

    def shutdown(self) -> None:
        """The owner ends (retired or cancelled): timers and child work go, held clients are
        told, and a wake's GPU claim is given back."""
        self._cancel_idle_timer()
        if self._check_timer is not None:
            self._check_timer.cancel()
        if self._evict_timer is not None:
            self._evict_timer.cancel()
        self._tasks.cancel_all()
        if self._claim is not None:
            self._residency.withdraw(self._claim)
            self._claim = None
        self._fail_waiters("autosred is shutting down", kind="shutting_down")
        final = replace(self.snapshot, held=0)
        for queue in self._subscribers:
            queue.put_nowait(final)
