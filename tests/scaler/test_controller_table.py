"""Every message in every state it can meet: message → state → effects, one row each.

A row starts from a named situation (reached by driving real messages from a stopped model),
applies one message, and checks the state, the child work started (wake, stop, check), the
events logged, the pending drain and whether the owner ends. Child work is never run here: its
outcome is a message like any other (tests/scaler/test_controller_work.py runs it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pytest

from autosred.config import DriftAction
from autosred.engines.base import Observation, Observed, Ready, WakeProgress
from autosred.scaler.drain import ADMIN, REDEPLOY, REMOVED, SWITCH, Drain
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
from autosred.scaler.state import ModelState, ModelUnavailable
from tests.scaler.harness import URL_A, URL_B, Harness, drift, recipe

S = ModelState
NO_GPU: dict[str, Any] = {"gpu": {"count": 0}}


class Situation(Harness):
    """A harness plus the futures of the requests the situation made."""

    def __init__(self, tmp_path: Path, drift_action: DriftAction) -> None:
        super().__init__(tmp_path, drift_action=drift_action, recipes=(recipe(**NO_GPU),))
        self.waiters: list[asyncio.Future[Any]] = []
        self.lease: asyncio.Future[Any] | None = None
        self.ack: asyncio.Future[Any] | None = None

    def request(self) -> asyncio.Future[Any]:
        future = self.future()
        self.send(Acquire(future))
        return future


def stopped(h: Situation) -> None:
    pass


def starting(h: Situation) -> None:
    h.waiters.append(h.request())


def starting_full(h: Situation) -> None:
    for _ in range(3):  # the recipe's hold cap
        starting(h)


def starting_removed(h: Situation) -> None:
    starting(h)
    h.send(Retire())


def starting_scaled_down(h: Situation) -> None:
    starting(h)
    h.send(ScaleDown(h.future()))


def ready(h: Situation) -> None:
    starting(h)
    h.send(WakeDone(h.generation, 1.0, Ready("health", "200", url=URL_A)))
    h.send(Release())


def ready_expired(h: Situation) -> None:
    ready(h)
    h.clock.time += 600  # past the idle deadline, its timer not fired yet


def busy(h: Situation) -> None:
    ready(h)
    h.lease = h.request()


def busy_scaled_down(h: Situation) -> None:
    busy(h)
    h.send(ScaleDown(h.future()))


def switching(h: Situation) -> None:
    busy(h)
    h.send(Evict())


def busy_redeploy(h: Situation) -> None:
    busy(h)
    h.send(Checked(h.generation, Observation(Observed.RUNNING, endpoint=URL_A, drift=drift("x"))))


def stopping(h: Situation) -> None:
    ready(h)
    h.clock.advance(600)  # the idle timer fires
    h.deliver()


def stopping_held(h: Situation) -> None:
    stopping(h)
    h.waiters.append(h.request())


def stopping_removed(h: Situation) -> None:
    stopping(h)
    h.send(Retire())


def stopping_redeploy(h: Situation) -> None:
    busy_redeploy(h)
    h.send(Release())


def failed(h: Situation) -> None:
    starting(h)
    h.send(WakeDone(h.generation, 1.0, WakeFailure("it broke")))


@dataclass(frozen=True)
class Row:
    given: Callable[[Situation], None]
    message: Callable[[Situation], Message]
    state: ModelState
    spawned: tuple[str, ...] = ()
    logged: tuple[str, ...] = ()
    pending: Drain | None = None
    ends: bool = False
    why: str | None = None
    """The reason on the wake or stop this message started."""
    then: Callable[[Situation], object] = field(default=lambda h: None)
    """A further check: returns False or raises when it fails."""
    drift_action: DriftAction = "report"


def _message_name(row: Row) -> str:
    return row.message.__doc__ or "message"


def msg(factory: Callable[[Situation], Message], name: str) -> Callable[[Situation], Message]:
    factory.__doc__ = name
    return factory


def held(count: int) -> Callable[[Situation], None]:
    def check(h: Situation) -> None:
        assert h.controller.snapshot.held == count

    return check


def in_flight(count: int) -> Callable[[Situation], None]:
    def check(h: Situation) -> None:
        assert h.controller.snapshot.in_flight == count

    return check


def refused(kind: str) -> Callable[[Situation], None]:
    def check(h: Situation) -> None:
        error = h.last.exception()
        assert isinstance(error, ModelUnavailable) and error.kind == kind

    return check


def granted(url: object) -> Callable[[Situation], None]:
    def check(h: Situation) -> None:
        assert h.last.result() == url

    return check


def both(*checks: Callable[[Situation], None]) -> Callable[[Situation], None]:
    def check(h: Situation) -> None:
        for one in checks:
            one(h)

    return check


def acquire(h: Situation) -> Message:
    h.last = h.future()
    return Acquire(h.last)


def scale_up(h: Situation) -> Message:
    h.last = h.future()
    return ScaleUp(h.last)


def scale_down(h: Situation) -> Message:
    h.last = h.future()
    return ScaleDown(h.last)


ACQUIRE = msg(acquire, "Acquire")
RELEASE = msg(lambda h: Release(), "Release")
CANCEL = msg(lambda h: CancelWait(h.waiters[0]), "CancelWait")
SCALE_UP = msg(scale_up, "ScaleUp")
SCALE_DOWN = msg(scale_down, "ScaleDown")
UNREACHABLE = msg(lambda h: Unreachable(), "Unreachable")
CHECK_DUE = msg(lambda h: CheckDue(), "CheckDue")
DIED = msg(lambda h: Checked(h.generation, Observation(Observed.FAILED, "exit 1")), "Checked-died")
MOVED = msg(
    lambda h: Checked(h.generation, Observation(Observed.RUNNING, endpoint=URL_B)), "Checked-moved"
)
BLIND = msg(lambda h: Checked(h.generation, None, "api server away"), "Checked-unavailable")
STALE_CHECK = msg(
    lambda h: Checked(h.generation - 1, Observation(Observed.FAILED)), "Checked-stale"
)
DRIFTED = msg(
    lambda h: Checked(
        h.generation, Observation(Observed.RUNNING, endpoint=URL_A, drift=drift("x"))
    ),
    "Checked-drifted",
)
MATCHES = msg(
    lambda h: Checked(h.generation, Observation(Observed.RUNNING, endpoint=URL_A, drift=())),
    "Checked-matches",
)
UPDATE = msg(lambda h: UpdateRecipe(recipe(idle_timeout="60s", **NO_GPU)), "UpdateRecipe")
RETIRE = msg(lambda h: Retire(), "Retire")
IDLE = msg(lambda h: IdleCheck(), "IdleCheck")
EVICT = msg(lambda h: Evict(), "Evict")
DEADLINE = msg(lambda h: EvictDeadline(h.generation), "EvictDeadline")
STALE_DEADLINE = msg(lambda h: EvictDeadline(h.generation - 1), "EvictDeadline-stale")
STEP = msg(lambda h: WakeStep(h.generation, WakeProgress("pulling", "image")), "WakeStep")
WOKE = msg(
    lambda h: WakeDone(h.generation, 2.0, Ready("health", "200", url=URL_B)), "WakeDone-ready"
)
WAKE_FAILED = msg(lambda h: WakeDone(h.generation, 2.0, WakeFailure("no")), "WakeDone-failed")
STOPPED = msg(lambda h: StopDone(h.generation, "idle"), "StopDone")
STALE_STOP = msg(lambda h: StopDone(h.generation - 1, "idle"), "StopDone-stale")

WAKE = ("scaler.wake_started",)
STOP = ("scaler.stop_started",)

ROWS = [
    # Acquire
    Row(stopped, ACQUIRE, S.STARTING, ("wake",), WAKE, why="request", then=held(1)),
    Row(starting, ACQUIRE, S.STARTING, then=held(2)),
    Row(starting_full, ACQUIRE, S.STARTING, then=both(held(3), refused("hold_cap"))),
    Row(starting_removed, ACQUIRE, S.STARTING, pending=REMOVED, then=refused("removed")),
    Row(ready, ACQUIRE, S.READY, then=both(in_flight(1), granted(URL_A))),
    Row(switching, ACQUIRE, S.READY, pending=SWITCH, then=both(in_flight(1), held(1))),
    Row(stopping, ACQUIRE, S.STOPPING, then=held(1)),
    Row(failed, ACQUIRE, S.STARTING, ("wake",), WAKE, why="request"),
    # Release
    Row(busy, RELEASE, S.READY, then=lambda h: h.controller.snapshot.idle_deadline is not None),
    Row(busy_scaled_down, RELEASE, S.STOPPING, ("stop",), STOP, pending=ADMIN, why="admin"),
    Row(switching, RELEASE, S.STOPPING, ("stop",), STOP, pending=SWITCH, why="switch"),
    Row(
        busy_redeploy,
        RELEASE,
        S.STOPPING,
        ("stop",),
        STOP,
        pending=REDEPLOY,
        why="drift",
        drift_action="redeploy",
    ),
    # CancelWait
    Row(starting, CANCEL, S.STARTING, then=held(0)),
    # ScaleUp
    Row(stopped, SCALE_UP, S.STARTING, ("wake",), WAKE, why="admin"),
    Row(failed, SCALE_UP, S.STARTING, ("wake",), WAKE, why="admin"),
    Row(ready, SCALE_UP, S.READY, then=lambda h: h.last.result().state is S.READY),
    Row(busy_scaled_down, SCALE_UP, S.READY),
    # ScaleDown
    Row(stopped, SCALE_DOWN, S.STOPPED, then=lambda h: h.last.result().state is S.STOPPED),
    Row(failed, SCALE_DOWN, S.FAILED),
    Row(starting, SCALE_DOWN, S.STARTING, pending=ADMIN),
    Row(ready, SCALE_DOWN, S.STOPPING, ("stop",), STOP, pending=ADMIN, why="admin"),
    Row(busy, SCALE_DOWN, S.READY, pending=ADMIN),
    Row(switching, SCALE_DOWN, S.READY, pending=SWITCH),
    Row(stopping, SCALE_DOWN, S.STOPPING, pending=ADMIN),
    # Unreachable / CheckDue / Checked
    Row(ready, UNREACHABLE, S.READY, ("check",)),
    Row(stopped, UNREACHABLE, S.STOPPED),
    Row(ready, CHECK_DUE, S.READY, ("check",)),
    Row(stopped, CHECK_DUE, S.STOPPED),
    Row(ready, DIED, S.STOPPING, ("stop",), ("scaler.server_died", *STOP), why="died"),
    Row(
        ready,
        MOVED,
        S.READY,
        then=lambda h: h.controller.snapshot.endpoint == str(URL_B),
    ),
    Row(ready, BLIND, S.READY, logged=("scaler.degraded",)),
    Row(stopping, STALE_CHECK, S.STOPPING),
    Row(ready, DRIFTED, S.READY, logged=("scaler.drift",)),
    Row(
        ready,
        DRIFTED,
        S.STOPPING,
        ("stop",),
        ("scaler.drift", *STOP),
        pending=REDEPLOY,
        why="drift",
        drift_action="redeploy",
    ),
    Row(
        busy_redeploy,
        MATCHES,
        S.READY,
        logged=("scaler.drift_resolved",),
        drift_action="redeploy",
    ),
    # UpdateRecipe
    Row(ready, UPDATE, S.READY, ("check",)),
    Row(stopped, UPDATE, S.STOPPED),
    # Retire
    Row(stopped, RETIRE, S.STOPPED, ends=True),
    Row(failed, RETIRE, S.FAILED, ends=True),
    Row(starting, RETIRE, S.STARTING, pending=REMOVED),
    Row(ready, RETIRE, S.STOPPING, ("stop",), STOP, pending=REMOVED, why="removed"),
    Row(busy, RETIRE, S.READY, pending=REMOVED),
    Row(stopping, RETIRE, S.STOPPING, pending=REMOVED),
    # IdleCheck
    Row(ready, IDLE, S.READY),
    Row(ready_expired, IDLE, S.STOPPING, ("stop",), STOP, why="idle"),
    Row(busy, IDLE, S.READY),
    # Evict / EvictDeadline
    Row(stopped, EVICT, S.STOPPED),
    Row(starting, EVICT, S.STARTING),
    Row(ready, EVICT, S.STOPPING, ("stop",), STOP, pending=SWITCH, why="switch"),
    Row(busy, EVICT, S.READY, pending=SWITCH),
    Row(
        switching,
        DEADLINE,
        S.STOPPING,
        ("stop",),
        ("scaler.switch_cut_short", *STOP),
        pending=SWITCH,
        why="switch",
    ),
    Row(ready, STALE_DEADLINE, S.READY),
    # WakeStep / WakeDone
    Row(starting, STEP, S.STARTING, then=lambda h: h.controller.snapshot.phase == "pulling"),
    Row(ready, STEP, S.READY, then=lambda h: h.controller.snapshot.phase is None),
    Row(starting, WOKE, S.READY, logged=("scaler.ready",), then=in_flight(1)),
    Row(starting_scaled_down, WOKE, S.READY, logged=("scaler.ready",), pending=ADMIN),
    Row(
        starting_removed,
        WOKE,
        S.STOPPING,
        ("stop",),
        ("scaler.ready", *STOP),
        pending=REMOVED,
        why="removed",
    ),
    Row(starting, WAKE_FAILED, S.FAILED, logged=("scaler.wake_failed",)),
    Row(starting_removed, WAKE_FAILED, S.STARTING, logged=("scaler.wake_failed",), ends=True),
    # StopDone
    Row(stopping, STOPPED, S.STOPPED, logged=("scaler.stopped",)),
    Row(stopping_held, STOPPED, S.STARTING, ("wake",), ("scaler.stopped", *WAKE), why="request"),
    Row(stopping_removed, STOPPED, S.STOPPING, logged=("scaler.stopped",), ends=True),
    Row(
        stopping_redeploy,
        STOPPED,
        S.STARTING,
        ("wake",),
        ("scaler.stopped", *WAKE),
        why="drift",
        drift_action="redeploy",
    ),
    Row(ready, STALE_STOP, S.READY),
]


@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{row.given.__name__}-{_message_name(row)}" for row in ROWS]
)
async def test_row(tmp_path: Path, row: Row) -> None:
    h = Situation(tmp_path, row.drift_action)
    try:
        row.given(h)
        assert not h.ended
        h.reset_effects()
        ends = h.send(row.message(h))
        assert ends is row.ends
        assert h.state is row.state
        assert h.tasks.kinds() == list(row.spawned)
        assert h.events.names() == list(row.logged)
        if not row.ends:
            assert h.controller.pending == row.pending
        if row.why is not None:
            started = h.events.fields("scaler.wake_started") + h.events.fields(
                "scaler.stop_started"
            )
            assert [event["reason"] for event in started] == [row.why]
        assert row.then(h) is not False
    finally:
        h.close()


def test_every_message_and_every_state_has_a_row() -> None:
    messages = {_message_name(row).split("-")[0] for row in ROWS}
    assert messages == {kind.__name__ for kind in get_args(Message)}
    assert {row.state for row in ROWS} == set(ModelState)
