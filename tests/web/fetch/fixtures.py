"""Fixtures the fetch tests share (tests/web and tests/mcp/fetch import them into their
conftest): the test CA, and one extraction worker for the whole run."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from tests.web.fetch.sites import SiteCA, make_ca


@pytest.fixture
def ca(tmp_path: Path) -> SiteCA:
    return make_ca(tmp_path)


@pytest.fixture(scope="session")
def extraction_pool() -> Iterator[ProcessPoolExecutor]:
    """One extraction worker for the whole run (each fetcher would start its own otherwise)."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)
