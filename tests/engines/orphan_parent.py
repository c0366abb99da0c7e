"""A stand-in daemon for the no-orphans test: starts one child with ProcessEngine, prints
``child_pid=N`` once it is healthy, then waits to be SIGKILLed by the test."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from autosred.config import EngineSettings
from autosred.engines.process import ProcessEngine
from autosred.recipes import Recipe

CHILD_SERVER = Path(__file__).with_name("child_server.py")


async def main() -> None:
    engine = ProcessEngine(
        settings=EngineSettings(health_interval=0.05), log=logging.getLogger("orphan_parent")
    )
    recipe = Recipe(name="orphan", command=["{python}", str(CHILD_SERVER), "--port", "{port}"])
    async for _ in engine.start(recipe):
        pass
    sys.stdout.write(f"child_pid={engine.child_pid(recipe)}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(main())
