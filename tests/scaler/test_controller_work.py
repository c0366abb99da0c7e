"""The child work of a model's owner (wake, stop, check) run against the fake engine, and what
the owner makes of its reports: the endpoint comes with readiness, drift is logged once per
change, the residency is told by the owner alone, switching goes through the residency."""

from __future__ import annotations

from pathlib import Path

from autosred.engines.base import Observation, Observed, Ready, WakeProgress
from autosred.scaler.messages import (
    Acquire,
    Checked,
    Release,
    StopDone,
    Unreachable,
    WakeDone,
    WakeFailure,
    WakeStep,
)
from autosred.scaler.state import ModelState, ModelUnavailable
from tests.scaler.harness import URL_A, URL_B, Harness, drift, recipe


def state_of(h: Harness, name: str) -> ModelState:
    return h.controllers[name].snapshot.state


async def test_the_endpoint_comes_with_readiness(tmp_path: Path) -> None:
    h = Harness(tmp_path, recipes=(recipe(gpu={"count": 0}),))
    try:
        request = h.future()
        h.send(Acquire(request))
        await h.run("wake")
        posted = h.posted()
        assert [type(message) for message in posted] == [WakeStep, WakeDone]
        done = posted[-1]
        assert isinstance(done, WakeDone) and done.outcome == Ready("health", "200", url=URL_A)
        for message in posted:
            h.send(message)
        assert h.state is ModelState.READY
        assert request.result() == URL_A
        assert h.controller.snapshot.endpoint == str(URL_A)
        # A replaced server answers elsewhere: the observation says where, the owner keeps it.
        h.engine.observation = Observation(Observed.RUNNING, endpoint=URL_B)
        h.send(Unreachable())
        await h.run("check")
        h.deliver()
        assert h.controller.snapshot.endpoint == str(URL_B)
        later = h.future()
        h.send(Acquire(later))
        assert later.result() == URL_B
    finally:
        h.close()


async def test_a_start_that_ends_without_ready_fails_the_wake(tmp_path: Path) -> None:
    h = Harness(tmp_path, recipes=(recipe(gpu={"count": 0}),))
    try:
        h.engine.steps = [WakeProgress("loading")]
        request = h.future()
        h.send(Acquire(request))
        await h.run("wake")
        h.deliver()
        assert h.state is ModelState.FAILED
        error = request.exception()
        assert isinstance(error, ModelUnavailable)
        assert "without reporting where the server answers" in error.reason
        assert h.engine.calls == ["start m", "stop m"]  # nothing half-started is left
    finally:
        h.close()


async def test_the_snapshot_says_since_when_it_is_ready_and_its_drift(tmp_path: Path) -> None:
    h = Harness(tmp_path, recipes=(recipe(gpu={"count": 0}),))
    try:
        h.send(Acquire(h.future()))
        assert h.controllers["m"].snapshot.ready_since is None, "starting is not ready"
        h.clock.time += 5
        became_ready = h.clock.wall()
        h.send(WakeDone(h.generation, 1.0, Ready("health", "", url=URL_A)))
        h.send(Release())
        h.clock.time += 30
        observation = Observation(Observed.RUNNING, endpoint=URL_A, drift=drift("image.digest"))
        h.send(Checked(h.generation, observation))
        snapshot = h.controllers["m"].snapshot
        assert snapshot.ready_since == became_ready, "kept across the changes while ready"
        assert snapshot.drift == drift("image.digest")
        h.send(StopDone(h.generation, "idle"))
        snapshot = h.controllers["m"].snapshot
        assert (snapshot.state, snapshot.ready_since, snapshot.drift) == (
            ModelState.STOPPED,
            None,
            (),
        )
    finally:
        h.close()


async def test_drift_is_logged_once_per_change_and_exported(tmp_path: Path) -> None:
    h = Harness(tmp_path, recipes=(recipe(gpu={"count": 0}),))

    def check(*fields: str) -> None:
        observation = Observation(Observed.RUNNING, endpoint=URL_A, drift=drift(*fields))
        h.send(Checked(h.generation, observation))

    def exported() -> float | None:
        return h.metrics.registry.get_sample_value("autosred_drift_fields", {"model": "m"})

    try:
        h.send(Acquire(h.future()))
        h.send(WakeDone(h.generation, 1.0, Ready("health", "", url=URL_A)))
        h.send(Release())
        for _ in range(4):  # four health checks see the same drift
            check("container.args", "container.env.X")
        assert h.events.fields("scaler.drift") == [
            {"model": "m", "fields": "container.args,container.env.X", "action": "report"}
        ]
        assert exported() == 2
        for _ in range(3):
            check("container.args")
        assert len(h.events.fields("scaler.drift")) == 2
        assert exported() == 1
        for _ in range(3):
            check()
        assert len(h.events.fields("scaler.drift")) == 2
        assert h.events.names().count("scaler.drift_resolved") == 1
        assert exported() == 0
        assert h.state is ModelState.READY  # report only: nothing restarted
    finally:
        h.close()


async def test_an_engine_that_cannot_tell_exports_no_drift(tmp_path: Path) -> None:
    h = Harness(tmp_path, recipes=(recipe(gpu={"count": 0}),))
    try:
        h.send(Acquire(h.future()))
        h.send(WakeDone(h.generation, 1.0, Ready("health", "", url=URL_A)))
        h.send(Checked(h.generation, Observation(Observed.RUNNING, endpoint=URL_A)))
        assert h.metrics.registry.get_sample_value("autosred_drift_fields", {"model": "m"}) is None
        assert "scaler.drift" not in h.events.names()
    finally:
        h.close()


async def test_a_model_at_zero_is_exported_from_the_start(tmp_path: Path) -> None:
    """Before any wake: stopped, nothing in flight or held (a dashboard lists every recipe)."""
    h = Harness(tmp_path, recipes=(recipe(gpu={"count": 0}),))
    try:
        value = h.metrics.registry.get_sample_value
        for state in ModelState:
            expected = 1 if state is ModelState.STOPPED else 0
            assert value("autosred_engine_state", {"model": "m", "state": state.value}) == expected
        assert value("autosred_in_flight_requests", {"model": "m"}) == 0
        assert value("autosred_held_requests", {"model": "m"}) == 0
    finally:
        h.close()


async def test_a_failed_wake_gives_its_gpu_back_through_the_owner(tmp_path: Path) -> None:
    a, b = recipe("a"), recipe("b")
    h = Harness(tmp_path, recipes=(a, b))
    try:
        first = h.future()
        h.send(Acquire(first), to="a")
        await h.admit()  # a holds the one GPU
        h.engine.steps, h.engine.failure = [], "out of memory"
        await h.run("wake")
        h.deliver("a")
        assert state_of(h, "a") is ModelState.FAILED
        # The owner withdrew a's claim: b is admitted without any switching.
        h.engine.steps, h.engine.failure = [Ready("health", "", url=URL_B)], None
        second = h.future()
        h.send(Acquire(second), to="b")
        await h.admit()
        await h.run("wake")
        h.deliver("b")
        assert second.result() == URL_B
        assert h.evicted == []
    finally:
        h.close()


async def test_waking_a_second_model_switches_out_the_first_after_min_residency(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, recipes=(recipe("a"), recipe("b")))
    try:
        h.send(Acquire(h.future()), to="a")
        await h.admit()
        await h.run("wake")
        h.deliver("a")
        h.send(Release(), to="a")
        assert state_of(h, "a") is ModelState.READY
        h.engine.steps = [Ready("health", "", url=URL_B)]
        wanted = h.future()
        h.send(Acquire(wanted), to="b")
        h.deliver("b")
        assert h.controllers["b"].snapshot.phase == "waiting for GPU"
        assert "holds the GPU for at least 30 s" in h.controllers["b"].snapshot.detail
        assert h.evicted == []
        h.clock.advance(30)  # min_residency passes: the residency switches a out
        assert h.evicted == ["a"]
        h.deliver("a")
        assert state_of(h, "a") is ModelState.STOPPING
        assert h.controllers["a"].pending is not None
        assert h.controllers["a"].pending.reason == "switch"
        await h.run("stop")
        (stopped,) = h.posted("a")
        assert isinstance(stopped, StopDone)
        h.send(stopped, to="a")
        assert state_of(h, "a") is ModelState.STOPPED
        await h.admit()  # a's GPU released by its owner: b is admitted
        await h.run("wake")
        h.deliver("b")
        assert wanted.result() == URL_B
        assert (
            h.metrics.registry.get_sample_value(
                "autosred_scale_events_total",
                {"model": "a", "direction": "down", "reason": "switch"},
            )
            == 1
        )
    finally:
        h.close()


async def test_hold_cap_refuses_beyond_the_cap(tmp_path: Path) -> None:
    h = Harness(tmp_path, recipes=(recipe(gpu={"count": 0}, hold_cap=1),))
    try:
        h.send(Acquire(h.future()))
        extra = h.future()
        h.send(Acquire(extra))
        error = extra.exception()
        assert isinstance(error, ModelUnavailable) and error.kind == "hold_cap"
        h.send(WakeDone(h.generation, 1.0, WakeFailure("gone")))
        assert h.state is ModelState.FAILED
    finally:
        h.close()
