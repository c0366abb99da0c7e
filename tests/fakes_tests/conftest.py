from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_k3s import FakeCluster, running_cluster
from tests.fakes_tests.support import Kube

FAST: dict[str, Any] = {
    "pull_delay": 0.05,
    "start_delay": 0.0,
    "schedule_delay": 0.0,
    "backoff": 0.3,
    "probe_interval": 0.05,
}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[FakeCluster]:
    async with running_cluster(tmp_path, **FAST) as running:
        yield running


@pytest.fixture
def kube(cluster: FakeCluster) -> Iterator[Kube]:
    assert cluster.kubeconfig is not None
    api = Kube(cluster.kubeconfig)
    yield api
    api.close()
