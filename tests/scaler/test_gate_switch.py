"""An explicit switch is decided inside the scaler: the gate tells every other GPU model's owner
to stop once drained and the target's owner to wake; nothing is read first. Real owner tasks on
the running loop, the fake engine underneath."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from autosred.config import ScalerSettings
from autosred.engines.base import Observation, Observed
from autosred.metrics import Metrics
from autosred.recipes import Catalog
from autosred.scaler import ModelGate, ModelState
from autosred.scaler.controller import ModelController
from autosred.scaler.history import WakeHistory
from tests.scaler.harness import FakeEngine, recipe


async def reach(controller: ModelController, state: ModelState) -> None:
    queue = controller.subscribe()
    try:
        async with asyncio.timeout(5):
            while (await queue.get()).state is not state:
                pass
    finally:
        controller.unsubscribe(queue)


async def test_switch_stops_the_other_gpu_models_and_wakes_the_target(tmp_path: Path) -> None:
    log = logging.getLogger("tests.scaler.gate")
    recipes = [recipe("a"), recipe("b"), recipe("cpu", gpu={"count": 0})]
    # Nothing runs yet when the owners first look (no adoption).
    engine = FakeEngine(observation=Observation(Observed.STOPPED))
    gate = ModelGate(
        catalog=Catalog(tuple(recipes)),
        engine=engine,
        history=WakeHistory(tmp_path / "history.json", log=log),
        metrics=Metrics(),
        # A switch is explicit: the minimum residency does not hold it.
        settings=ScalerSettings(gpu_capacity=1, min_residency=600),
        log=log,
    )
    await gate.start()
    try:
        a, b, cpu = (gate.controller(name) for name in ("a", "b", "cpu"))
        await a.scale_up()
        await cpu.scale_up()
        await reach(a, ModelState.READY)
        await reach(cpu, ModelState.READY)
        first = await gate.switch("b")
        assert first.name == "b" and first.state is ModelState.STARTING
        await reach(b, ModelState.READY)
        assert a.snapshot.state is ModelState.STOPPED
        assert cpu.snapshot.state is ModelState.READY  # no GPU: not part of switching
        assert engine.calls.count("stop a") == 1
    finally:
        await gate.aclose()
