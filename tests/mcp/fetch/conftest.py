from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from autosred.config import FetchSettings
from autosred.mcp.fetch import FetchTools
from tests.web.fetch.sites import SiteCA, make_ca

ToolFactory = Callable[..., FetchTools]


@pytest.fixture
def ca(tmp_path: Path) -> SiteCA:
    return make_ca(tmp_path)


@pytest.fixture(scope="session")
def extraction_pool() -> Iterator[ProcessPoolExecutor]:
    """One extraction worker for the whole run (each tool would start its own otherwise)."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
async def make_tool(ca: SiteCA, extraction_pool: ProcessPoolExecutor) -> AsyncIterator[ToolFactory]:
    """FetchTools on test settings: loopback opened, robots.txt off, the test CA trusted
    (each overridable); every tool made is closed after the test."""
    made: list[FetchTools] = []

    def build(resolver: Any = None, **overrides: Any) -> FetchTools:
        values: dict[str, Any] = {
            "allow": ["127.0.0.0/8"],
            "robots": False,
            "ca_bundle": str(ca.bundle),
            "timeout": 10,
        }
        values.update(overrides)
        settings = FetchSettings(**values)
        if resolver is None:
            tool = FetchTools(settings, executor=extraction_pool)
        else:
            tool = FetchTools(settings, resolver=resolver, executor=extraction_pool)
        made.append(tool)
        return tool

    yield build
    for tool in made:
        await tool.close()
