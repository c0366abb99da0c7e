"""The shared health check and port helpers, against real sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from yarl import URL

from autosred.engines.health import HealthChecker, health_url
from autosred.engines.ports import pick_free_port, port_unavailable

from .helpers import Serve


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket that accepts connections (the kernel's backlog) but never answers."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


def test_health_url_joins_base_path_and_health_path() -> None:
    assert health_url(URL("http://h:8000"), "/health") == URL("http://h:8000/health")
    assert health_url(URL("http://h:8000/"), "health") == URL("http://h:8000/health")
    assert health_url(URL("http://h/srv/"), "/health") == URL("http://h/srv/health")


async def test_ok_on_200_and_reason_otherwise(serve: Serve) -> None:
    healthy, loading = pick_free_port("127.0.0.1"), pick_free_port("127.0.0.1")
    await serve(healthy)
    await serve(loading, status=503)
    checker = HealthChecker()
    try:
        ok = await checker.check(URL(f"http://127.0.0.1:{healthy}/health"))
        not_yet = await checker.check(URL(f"http://127.0.0.1:{loading}/health"))
    finally:
        await checker.aclose()
    assert (ok.ok, ok.status) == (True, 200)
    assert (not_yet.ok, not_yet.status, not_yet.reason) == (False, 503, "HTTP 503")


async def test_nothing_listening_reads_connection_refused() -> None:
    port = pick_free_port("127.0.0.1")
    checker = HealthChecker()
    try:
        health = await checker.check(URL(f"http://127.0.0.1:{port}/health"))
    finally:
        await checker.aclose()
    assert (health.ok, health.status, health.reason) == (False, None, "connection refused")


async def test_a_server_that_never_answers_times_out_quickly(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    checker = HealthChecker(timeout=0.2)
    try:
        health = await checker.check(URL(f"http://127.0.0.1:{port}/health"))
    finally:
        await checker.aclose()
    assert (health.ok, health.status) == (False, None)
    assert health.reason == "no answer within 0.2s"


def test_picked_port_is_bindable_and_busy_port_is_reported(listener: socket.socket) -> None:
    port = pick_free_port("127.0.0.1")
    assert port_unavailable("127.0.0.1", port) is None
    busy = listener.getsockname()[1]
    why = port_unavailable("127.0.0.1", busy)
    assert why is not None
    assert "in use" in why
