"""A store under a directory of its own, with a clock the tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autosred.dropbox.storage import Store


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The dropbox root, one level below tmp_path: the tests see what is written beside it."""
    return tmp_path / "dropbox"


@pytest.fixture
async def store(root: Path, clock: Clock) -> AsyncIterator[Store]:
    opened = await Store.open(root, max_size=1 << 20, upload_ttl=3600.0, min_free=0, clock=clock)
    yield opened
    await opened.close()
