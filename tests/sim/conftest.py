"""Fixtures: a real simulator on a free port, and real clients (aiohttp, the openai SDK)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest

from autosred.sim import SimConfig, SimHandle, running_sim

from .helpers import MODEL, WINDOW


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with running_sim(SimConfig(model=MODEL, max_model_len=WINDOW)) as handle:
        yield handle


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def oai(sim: SimHandle) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0)
    try:
        yield client
    finally:
        await client.close()
