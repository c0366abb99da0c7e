"""The SearXNG backend against a local server speaking SearXNG's JSON API
(searxng_fake.py): the query string it sends, the results it reads, and every way an
instance says no."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from autosred.config import SearchSettings
from autosred.web.search.searxng import retry_after_seconds
from tests.mcp.search.support import call, search_tools
from tests.web.search.searxng_fake import Searxng, result, searxng


@pytest.fixture
async def instance() -> AsyncIterator[Searxng]:
    async with searxng() as server:
        yield server


def searxng_settings(url: str, **overrides: Any) -> SearchSettings:
    return SearchSettings.model_validate(
        {"backend": "searxng", "searxng_url": url, "timeout": 5, **overrides}
    )


async def search(instance: Searxng, arguments: dict[str, Any], **settings: Any) -> Any:
    async with search_tools(searxng_settings(instance.url, **settings)) as tools:
        return await call(tools, arguments)


async def test_results_are_a_numbered_markdown_list(instance: Searxng) -> None:
    instance.results = [
        result(
            "https://docs.python.org/3/library/asyncio.html",
            "asyncio — Asynchronous I/O",
            "asyncio is a library to write concurrent code.",
        ),
        result("https://peps.python.org/pep-0492/", "PEP 492", "Coroutines with async/await."),
    ]
    answer = await search(instance, {"query": "python asyncio"})

    assert not answer.is_error, answer.text
    assert answer.text == (
        "Search results for 'python asyncio' (2, via searxng):\n"
        "\n"
        "1. [asyncio — Asynchronous I/O](<https://docs.python.org/3/library/asyncio.html>)\n"
        "   asyncio is a library to write concurrent code.\n"
        "2. [PEP 492](<https://peps.python.org/pep-0492/>)\n"
        "   Coroutines with async/await."
    )


async def test_the_query_string_is_searxngs(instance: Searxng) -> None:
    instance.results = [result("https://example.org/", "Example")]
    await search(instance, {"query": "python asyncio"}, searxng_url=instance.url + "/")
    await search(
        instance,
        {"query": "python", "region": "de-de", "safesearch": "on", "timelimit": "m"},
    )
    await search(instance, {"query": "python", "region": "wt-wt", "safesearch": "off"})

    plain, filtered, anywhere = (dict(query) for query in instance.queries)
    assert plain == {"q": "python asyncio", "format": "json", "pageno": "1", "safesearch": "1"}
    assert filtered == {
        "q": "python",
        "format": "json",
        "pageno": "1",
        "safesearch": "2",
        "language": "de-DE",
        "time_range": "month",
    }
    assert anywhere["language"] == "all"
    assert anywhere["safesearch"] == "0"


async def test_max_results_cuts_and_unusable_results_are_skipped(instance: Searxng) -> None:
    instance.results = [
        {"title": "no url"},
        result("magnet:?xt=urn:btih:abc", "a torrent"),
        "not an object",
        *(result(f"https://example.org/{n}", f"Page {n}") for n in range(20)),
        result("https://example.org/0", "Page 0 again, from another engine"),
    ]
    answer = await search(instance, {"query": "pages", "max_results": 3})

    assert not answer.is_error, answer.text
    assert "(3, via searxng)" in answer.text
    assert "[Page 0](<https://example.org/0>)" in answer.text
    assert "[Page 2](<https://example.org/2>)" in answer.text
    assert "magnet:" not in answer.text and "again" not in answer.text


async def test_no_results_is_a_tool_error_with_its_suggestions(instance: Searxng) -> None:
    instance.suggestions = ["python asyncio tutorial"]
    instance.corrections = ["python asyncio"]
    answer = await search(instance, {"query": "pyhton asyncoi"})

    assert answer.is_error
    assert answer.text == (
        "No results for 'pyhton asyncoi'. SearXNG found no results. It suggests: "
        "python asyncio; python asyncio tutorial. Try other or fewer words, or drop region "
        "and timelimit; if results were expected, retry in a minute."
    )


async def test_the_instances_limiter_is_a_rate_limit_with_its_retry_after(
    instance: Searxng,
) -> None:
    instance.limited = True
    instance.retry_after = "17"
    answer = await search(instance, {"query": "python"})
    instance.retry_after = "0"
    at_once = await search(instance, {"query": "python"})
    instance.retry_after = None
    without = await search(instance, {"query": "python"})

    assert answer.is_error and without.is_error and at_once.is_error
    assert at_once.text.endswith("Retry in 1 seconds.")
    assert answer.text == (
        "Rate limited: SearXNG's limiter refused the search (HTTP 429). Retry in 17 seconds."
    )
    assert without.text.endswith("Retry in 60 seconds.")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("Wed, 02 Dec 2026 01:02:03 GMT", 63.0),
        ("Wed, 02 Dec 2026 00:59:00 GMT", 0.0),  # already past
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 12, 2, 1, 1, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now=now) == seconds


async def test_engines_that_refused_searxng_are_a_rate_limit(instance: Searxng) -> None:
    instance.unresponsive_engines = [
        ["duckduckgo", "Suspended: CAPTCHA"],
        ["google", "Suspended: too many requests"],
        ["wikipedia", "timeout"],
    ]
    answer = await search(instance, {"query": "python"})

    assert answer.is_error
    assert answer.text == (
        "Rate limited: SearXNG's engines refused the search: duckduckgo (Suspended: CAPTCHA), "
        "google (Suspended: too many requests). Retry in 60 seconds."
    )


async def test_engines_that_failed_otherwise_are_named(instance: Searxng) -> None:
    instance.unresponsive_engines = [["wikipedia", "timeout"], ["brave", "HTTP error"]]
    answer = await search(instance, {"query": "python"})

    assert answer.is_error
    assert answer.text.startswith(
        "Search failed: SearXNG's engines failed: wikipedia (timeout), brave (HTTP error)."
    )
    assert "Retry in a minute" in answer.text


async def test_json_not_enabled_names_the_setting(instance: Searxng) -> None:
    instance.formats = ("html",)  # SearXNG's shipped default
    answer = await search(instance, {"query": "python"})

    assert answer.is_error
    assert "(HTTP 403): its settings.yml must list json under search.formats" in answer.text


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, None, "SearXNG answered HTTP 500."),
        (200, b"<html>not json</html>", "SearXNG answered something that is not JSON"),
        (200, b'{"query": "python"}', "SearXNG's answer has no results list"),
        (200, b"[1, 2, 3]", "SearXNG's answer has no results list"),
        (200, b"\xff\xfe{", "SearXNG answered something that is not JSON"),
    ],
)
async def test_broken_answers_are_tool_errors(
    instance: Searxng, status: int, body: bytes | None, expected: str
) -> None:
    instance.status = status
    instance.raw_body = body
    answer = await search(instance, {"query": "python"})

    assert answer.is_error
    assert answer.text.startswith(f"Search failed: {expected}")


async def test_an_unreachable_instance_is_a_tool_error() -> None:
    async with searxng() as gone:
        url = gone.url
    async with search_tools(searxng_settings(url)) as tools:
        answer = await call(tools, {"query": "python"})

    assert answer.is_error
    assert answer.text.startswith(f"Search failed: SearXNG at {url}/search could not be reached")


async def test_https_instance_with_its_own_ca(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    async with searxng(tls) as secure:
        secure.results = [result("https://example.org/", "Example")]
        async with (
            search_tools(searxng_settings(secure.url, ca_file=str(ca_file))) as trusted,
            search_tools(searxng_settings(secure.url)) as untrusted,
        ):
            good = await call(trusted, {"query": "python"})
            refused = await call(untrusted, {"query": "python"})

    assert not good.is_error, good.text
    assert "[Example](<https://example.org/>)" in good.text
    assert refused.is_error
    assert "could not be reached" in refused.text


async def test_what_the_operator_must_fix_is_logged_as_a_warning(
    instance: Searxng, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="autosred.mcp.search"):
        await search(instance, {"query": "nothing"})  # no results: the model's business
        instance.formats = ("html",)
        await search(instance, {"query": "python"})  # json disabled: the operator's

    failed = [r for r in caplog.records if r.getMessage() == "mcp.search.failed"]
    assert [(r.levelno, r.fields["kind"]) for r in failed] == [  # type: ignore[attr-defined]
        (logging.INFO, "no_results"),
        (logging.WARNING, "upstream"),
    ]
