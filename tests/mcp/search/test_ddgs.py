"""The ddgs backend end to end: ddgs builds its real requests, primp sends them through a
real CONNECT proxy over TLS (a test CA), and ddgs's own parser reads the engines' pages
(built to its xpaths, not recorded: pages/README.md)."""

from __future__ import annotations

import logging
import re

import pytest

from autosred.web.search.ddgs_backend import redact_proxy
from tests.mcp.search.support import call, ddgs_settings, search_tools
from tests.support.clock import ManualClock
from tests.web.search.engines import DUCKDUCKGO, MOJEEK, Answer, EngineSite, page


async def test_results_are_a_numbered_markdown_list_from_duckduckgo(engines: EngineSite) -> None:
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo.html")))
    async with search_tools(ddgs_settings(engines)) as tools:
        result = await call(tools, {"query": "python asyncio"})

    assert not result.is_error, result.text
    items = re.findall(r"^(\d+)\. \[(.*)\]\(<(.*)>\)$", result.text, re.MULTILINE)
    urls = [url for _n, _t, url in items]
    # The ad (a duckduckgo.com/y.js link) is gone; ddgs's ranker puts Wikipedia first.
    assert urls[0] == "https://en.wikipedia.org/wiki/Async/await"
    assert set(urls) == {
        "https://docs.python.org/3/library/asyncio.html",
        "https://realpython.com/async-io-python/",
        "https://en.wikipedia.org/wiki/Async/await",
    }
    assert [n for n, _t, _u in items] == ["1", "2", "3"]
    assert "Python's asyncio: A Hands-On Walkthrough – Real Python" in result.text
    # The snippet, its markup stripped, on the line under its item.
    lines = result.text.splitlines()
    docs = next(i for i, line in enumerate(lines) if "docs.python.org" in line)
    assert lines[docs + 1].startswith("   asyncio is a library to write concurrent code")
    assert result.text.startswith("Search results for 'python asyncio' (3, via ddgs):")


async def test_query_region_and_timelimit_reach_the_engine_through_the_proxy(
    engines: EngineSite,
) -> None:
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo.html")))
    async with search_tools(ddgs_settings(engines)) as tools:
        result = await call(tools, {"query": "python asyncio", "region": "de-de", "timelimit": "w"})

    assert not result.is_error, result.text
    assert engines.tunnels == [f"{DUCKDUCKGO}:443"]
    (request,) = engines.asked(DUCKDUCKGO)
    assert (request.method, request.path) == ("POST", "/html/")
    assert request.form["q"] == "python asyncio"
    assert request.form["l"] == "de-de"
    assert request.form["df"] == "w"


async def test_max_results_cuts_the_list(engines: EngineSite) -> None:
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo.html")))
    async with search_tools(ddgs_settings(engines)) as tools:
        result = await call(tools, {"query": "python asyncio", "max_results": 2})

    assert not result.is_error, result.text
    assert re.findall(r"^\d+\. ", result.text, re.MULTILINE) == ["1. ", "2. "]


async def test_the_engine_list_comes_from_settings(engines: EngineSite) -> None:
    engines.answer(MOJEEK, Answer(body=page("mojeek.html")))
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo.html")))
    async with search_tools(ddgs_settings(engines, ddgs_backends=["mojeek"])) as tools:
        result = await call(
            tools, {"query": "python asyncio", "safesearch": "on", "region": "uk-en"}
        )

    assert not result.is_error, result.text
    assert engines.tunnels == [f"{MOJEEK}:443"]  # duckduckgo was never asked
    (request,) = engines.asked(MOJEEK)
    assert (request.method, request.path) == ("GET", "/search")
    assert request.query["q"] == "python asyncio"
    assert request.query["safe"] == "1"
    assert request.cookies == {"arc": "uk", "lb": "en"}
    pep = "[PEP 492 – Coroutines with async and await syntax](<https://peps.python.org/pep-0492/>)"
    assert pep in result.text
    assert "This section outlines high-level asyncio APIs" in result.text


async def test_several_engines_are_merged(engines: EngineSite) -> None:
    engines.answer(MOJEEK, Answer(body=page("mojeek.html")))
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo.html")))
    async with search_tools(
        ddgs_settings(engines, ddgs_backends=["duckduckgo", "mojeek"])
    ) as tools:
        result = await call(tools, {"query": "python asyncio", "max_results": 20})

    assert not result.is_error, result.text
    assert sorted(engines.tunnels) == sorted([f"{DUCKDUCKGO}:443", f"{MOJEEK}:443"])
    assert "https://peps.python.org/pep-0492/" in result.text
    assert "https://realpython.com/async-io-python/" in result.text


async def test_no_results_is_a_tool_error_with_a_retry_hint(engines: EngineSite) -> None:
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo-no-results.html")))
    async with search_tools(ddgs_settings(engines)) as tools:
        result = await call(tools, {"query": "qwxzvq kjhgf zzzq"})

    assert result.is_error
    assert result.text.startswith("No results for 'qwxzvq kjhgf zzzq'.")
    assert "Try other or fewer words" in result.text
    assert "retry in a minute" in result.text


async def test_an_engine_answering_429_reads_as_no_results_that_may_be_a_rate_limit(
    engines: EngineSite,
) -> None:
    # ddgs treats any answer but 200 as an empty page, so the model is told both.
    engines.answer(DUCKDUCKGO, Answer(status=429, body="Too Many Requests"))
    async with search_tools(ddgs_settings(engines)) as tools:
        result = await call(tools, {"query": "python asyncio"})

    assert result.is_error
    assert "refusing us for asking too often" in result.text
    assert "retry in a minute" in result.text


async def test_a_silent_engine_is_a_timeout(engines: EngineSite) -> None:
    engines.answer(DUCKDUCKGO, Answer(hold=True))
    async with search_tools(ddgs_settings(engines, timeout=1)) as tools:
        result = await call(tools, {"query": "python asyncio"})

    assert result.is_error
    assert "did not answer within mcp.search.timeout" in result.text
    assert "Retry in a few seconds" in result.text


async def test_an_unreachable_proxy_is_a_tool_error(engines: EngineSite) -> None:
    async with search_tools(ddgs_settings(engines, proxy="http://127.0.0.1:9")) as tools:
        result = await call(tools, {"query": "python asyncio"})

    assert result.is_error
    assert result.text.startswith("Search failed: The search engines could not be asked:")
    assert "tell the user" in result.text


async def test_the_daemon_limit_refuses_before_any_engine_is_asked(engines: EngineSite) -> None:
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo.html")))
    clock = ManualClock()
    async with search_tools(ddgs_settings(engines, per_minute=1), clock=clock) as tools:
        first = await call(tools, {"query": "python asyncio"})
        clock.now += 20
        second = await call(tools, {"query": "python asyncio"})
        clock.now += 40
        third = await call(tools, {"query": "python asyncio"})

    assert not first.is_error and not third.is_error
    assert second.is_error
    assert "(1 searches a minute, mcp.search.per_minute)" in second.text
    assert second.text.endswith("Retry in 40 seconds.")
    assert len(engines.asked(DUCKDUCKGO)) == 2


async def test_engines_ddgs_lacks_are_left_out_and_logged(
    engines: EngineSite, caplog: pytest.LogCaptureFixture
) -> None:
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo.html")))
    async with (
        search_tools(
            ddgs_settings(engines, ddgs_backends=["bing", "duckduckgo", "nosuch"])
        ) as tools,
        search_tools(ddgs_settings(engines, ddgs_backends=["bing"])) as nothing_known,
    ):
        with caplog.at_level(logging.WARNING, logger="autosred.mcp.search"):
            found = await call(tools, {"query": "python asyncio"})
            again = await call(tools, {"query": "python asyncio"})
            refused = await call(nothing_known, {"query": "python asyncio"})

    assert not found.is_error and not again.is_error
    # Only duckduckgo was asked: ddgs, given no engine it knows, would have asked them all.
    assert engines.tunnels == [f"{DUCKDUCKGO}:443", f"{DUCKDUCKGO}:443"]
    assert refused.is_error
    assert "None of the engines in mcp.search.ddgs_backends exists" in refused.text
    warnings = [r for r in caplog.records if r.getMessage() == "mcp.search.unknown_engines"]
    assert [r.fields["unknown"] for r in warnings] == [["bing", "nosuch"], ["bing"]]  # type: ignore[attr-defined]
    assert "duckduckgo" in warnings[0].fields["available"]  # type: ignore[attr-defined]


async def test_the_proxys_credentials_never_reach_the_model(engines: EngineSite) -> None:
    async with search_tools(
        ddgs_settings(engines, proxy="http://searcher:s3cret@127.0.0.1:9")
    ) as tools:
        result = await call(tools, {"query": "python asyncio"})

    assert result.is_error
    assert result.text.startswith("Search failed: The search engines could not be asked:")
    assert "s3cret" not in result.text


def test_redact_proxy_takes_the_credentials_out() -> None:
    proxy = "http://searcher:s3cret@proxy.example:3128"
    said = f"ProxyError: could not reach {proxy} (searcher:s3cret refused)"
    assert redact_proxy(said, proxy) == (
        "ProxyError: could not reach http://proxy.example:3128 (*** refused)"
    )
    assert redact_proxy(said, "http://proxy.example:3128") == said
    assert redact_proxy(said, None) == said
