from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fake_control import FakeControl
from .support import Served, sample_models, serve


@pytest.fixture
def fake() -> FakeControl:
    return FakeControl(sample_models())


@pytest.fixture
async def served(fake: FakeControl) -> AsyncIterator[Served]:
    async with serve(fake) as served:
        yield served
