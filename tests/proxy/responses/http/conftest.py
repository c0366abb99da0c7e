"""One real daemon per test worker for this package, in front of autosred-sim.

Recipes (each a simulated vLLM run by the process engine):
  sim      the main model: gpt-* aliases, context 4096 read from the server's /v1/models,
           the enable_thinking switch;
  text     a text-only model (images rejected), context 2048 stated in the recipe;
  fragile  wakes slowly (keep-alive comments), and a test kills it (connection refused);
  broken   its wake fails after a while (response.failed after the 200);
  capped   hold_cap 0: a request that needs a wake is refused at once (503).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.proxy.responses.http.support import TOKEN, Api, sha256
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe


def daemon_config(tmp_path: Path) -> dict[str, Any]:
    main = sim_recipe(
        "sim",
        aliases=["gpt-*", "sim-alias"],
        sim_args=["--max-model-len", "4096"],
        reasoning={"template_switch": "enable_thinking"},
    )
    text = sim_recipe(
        "text",
        aliases=["text-*"],
        max_model_len=2048,
        sim_args=["--max-model-len", "2048"],
        images="reject",
        reasoning={"effort": False},
    )
    fragile = sim_recipe("fragile", aliases=["fragile-*"], startup_delay=0.8)
    broken = sim_recipe(
        "broken", aliases=["broken-*"], startup_delay=0.6, sim_args=["--fail-start", "no weights"]
    )
    capped = sim_recipe("capped", aliases=["capped-*"], hold_cap=0)
    clients = [{"name": "codex", "token_sha256": sha256(TOKEN)}]
    return base_config(
        tmp_path,
        [main, text, fragile, broken, capped],
        api={"clients": clients, "max_body_bytes": 4 * 1024 * 1024},
        # Room for every recipe at once: no model is switched out for another mid-test.
        scaler={"gpu_capacity": 8},
    )


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def daemon(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("responses")
    async with running_daemon(tmp_path, daemon_config(tmp_path)) as running:
        yield running


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def api(daemon: Daemon) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        api = Api(daemon, session)
        # The main model awake before any test: only the tests about wakes see comments.
        warm = await api.post({"model": "gpt-5.5", "input": "warm up", "stream": False})
        assert warm.status == 200, warm.text
        yield api
