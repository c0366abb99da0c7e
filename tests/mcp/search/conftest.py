from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.web.search.engines import EngineSite, engine_site


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[EngineSite]:
    """Search engines on loopback behind a CONNECT proxy (engines.py)."""
    async with engine_site(tmp_path) as site:
        yield site
