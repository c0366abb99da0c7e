from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

# The admin tests' fake daemon, served on a real socket.
from tests.admin.fake_control import FakeControl
from tests.admin.support import Served, sample_models, serve

from .run import Ctl


@pytest.fixture
def fake() -> FakeControl:
    return FakeControl(sample_models())


@pytest.fixture
async def served(fake: FakeControl) -> AsyncIterator[Served]:
    async with serve(fake) as served:
        yield served


@pytest.fixture
def ctl(served: Served) -> Ctl:
    return Ctl(socket=served.path)
