"""One real daemon for the request flow's own tests, in front of autosred-sim.

Its keep-alive interval (``scaler.keepalive_interval``) is long enough that "at once" and "at
the first keep-alive tick" are seconds apart, so arrival times tell them apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

KEEPALIVE_INTERVAL = 2.5
"""Seconds between keep-alives while a stream waits for its first token."""


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def daemon(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("flow")
    recipe = sim_recipe(aliases=["claude-*", "gpt-*"], sim_args=["--max-model-len", "8192"])
    config = base_config(tmp_path, [recipe], scaler={"keepalive_interval": KEEPALIVE_INTERVAL})
    async with running_daemon(tmp_path, config) as running:
        async with aiohttp.ClientSession() as session:
            # Wake the model first: these tests time a ready model's streams, not a wake.
            warm = {"model": "sim", "messages": [{"role": "user", "content": "warm up"}]}
            async with session.post(f"{running.api_url}/v1/chat/completions", json=warm) as r:
                assert r.status == 200, await r.text()
        yield running
