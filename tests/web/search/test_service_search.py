"""WebService.search against a SearXNG on loopback: one per-minute limit for every caller
(the MCP tool and direct calls, as the hosted tools make them), refused before the backend
is asked and with the exact wait; the backend's own failures pass through with their kind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from autosred.config import SearchSettings
from autosred.mcp.search import SearchTools
from autosred.web.search.backend import FailureKind, SearchFailure, SearchHit, SearchQuery
from autosred.web.search.ratelimit import WINDOW, SearchLimited
from autosred.web.service import WebService
from tests.mcp.search.support import call
from tests.support.clock import ManualClock
from tests.web.search.searxng_fake import Searxng, result, searxng


@pytest.fixture
async def instance() -> AsyncIterator[Searxng]:
    async with searxng() as running:
        running.results = [result("https://example.org/a", "A", "first")]
        yield running


def service_for(instance: Searxng, clock: ManualClock, per_minute: int) -> WebService:
    settings = SearchSettings.model_validate(
        {"backend": "searxng", "searxng_url": instance.url, "per_minute": per_minute}
    )
    return WebService(search=settings, clock=clock)


async def test_the_mcp_tool_and_direct_calls_share_one_limit(instance: Searxng) -> None:
    clock = ManualClock()
    web = service_for(instance, clock, per_minute=2)
    assert web.searches and not web.fetches
    assert (web.search_backend, web.search_per_minute) == ("searxng", 2)
    tool = SearchTools(SearchSettings(per_minute=2), web=web)
    try:
        first = await call(tool, {"query": "from the tool"})
        clock.now += 10
        hits = await web.search(SearchQuery("from a hosted tool"))
        clock.now += 5
        with pytest.raises(SearchLimited) as limited:
            await web.search(SearchQuery("one too many"))
        refused = await call(tool, {"query": "one too many, from the tool"})
        # The refusals never reached SearXNG.
        assert [query["q"] for query in instance.queries] == ["from the tool", "from a hosted tool"]
        clock.now += WINDOW - 15  # the first search leaves the window
        again = await web.search(SearchQuery("after the first left the window"))
        await tool.close()  # the service is not the tool's to close: it goes on working
        clock.now += WINDOW
        after_close = await web.search(SearchQuery("after the tool closed"))
    finally:
        await tool.close()
        await web.close()
    assert not first.is_error and "https://example.org/a" in first.text
    assert hits == [SearchHit(title="A", url="https://example.org/a", snippet="first")]
    failure = limited.value
    assert isinstance(failure, SearchFailure) and failure.kind is FailureKind.RATE_LIMITED
    assert failure.retry_after == WINDOW - 15 and failure.per_minute == 2
    assert "mcp.search.per_minute" in failure.message
    assert refused.is_error and refused.text == (
        "This server's search limit (2 searches a minute, mcp.search.per_minute) is used up. "
        "Retry in 45 seconds."
    )
    assert again == hits and after_close == hits


async def test_the_backends_failures_keep_their_kind(instance: Searxng) -> None:
    web = service_for(instance, ManualClock(), per_minute=10)
    try:
        instance.limited, instance.retry_after = True, "30"
        with pytest.raises(SearchFailure) as engine_limit:
            await web.search(SearchQuery("limited"))
        instance.limited = False
        instance.results = []
        with pytest.raises(SearchFailure) as nothing:
            await web.search(SearchQuery("nothing"))
    finally:
        await web.close()
    assert not isinstance(engine_limit.value, SearchLimited)
    assert engine_limit.value.kind is FailureKind.RATE_LIMITED
    assert engine_limit.value.retry_after == 30
    assert nothing.value.kind is FailureKind.NO_RESULTS


async def test_a_service_without_search_says_so() -> None:
    web = WebService()
    with pytest.raises(SearchFailure) as failed:
        await web.search(SearchQuery("anything"))
    await web.close()
    assert failed.value.kind is FailureKind.UNAVAILABLE and "not enabled" in failed.value.message
    assert (web.searches, web.search_backend, web.search_per_minute) == (False, "", 0)
