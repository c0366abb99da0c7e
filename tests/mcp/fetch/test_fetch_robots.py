"""robots.txt through the tool against real sites: RFC 9309's rules and the issue's reading
of 401/403 (refuse), other 4xx (allow all), 5xx (refuse); kept per origin; fetched through
the same guard."""

from __future__ import annotations

import time

import pytest

from autosred.config import FetchSettings
from autosred.web.fetch.addresses import AddressPolicy
from autosred.web.fetch.client import FetchFailed, HttpClient
from autosred.web.fetch.guard import Guard
from autosred.web.fetch.robotsgate import RobotsGate
from autosred.web.fetch.urls import parse_target
from tests.mcp.fetch.conftest import ToolFactory
from tests.web.fetch.sites import Handler, SiteCA, body, redirect, running_site

ROBOTS = b"""# a comment
User-agent: SomeOtherBot
Disallow: /

User-agent: *
Disallow: /private/
Allow: /private/open
Disallow: /*.pdf$
"""


def site_routes(robots: Handler) -> dict[str, Handler]:
    return {
        "/robots.txt": robots,
        "/": body(b"home", "text/plain"),
        "/private/secret": body(b"secret", "text/plain"),
        "/private/open": body(b"open", "text/plain"),
        "/doc.pdf": body(b"%PDF", "text/plain"),
        "/doc.pdf.html": body(b"html", "text/plain"),
    }


async def test_the_rules_for_star_apply_and_are_kept_per_origin(make_tool: ToolFactory) -> None:
    async with running_site(site_routes(body(ROBOTS, "text/plain"))) as site:
        tool = make_tool(robots=True)
        home = await tool.call({"url": site.url("/")})
        secret = await tool.call({"url": site.url("/private/secret")})
        opened = await tool.call({"url": site.url("/private/open")})
        pdf = await tool.call({"url": site.url("/doc.pdf")})
        not_pdf = await tool.call({"url": site.url("/doc.pdf.html")})
        assert site.hits["/robots.txt"] == 1
        assert site.hits["/private/secret"] == 0 and site.hits["/doc.pdf"] == 0
    assert home.text.endswith("home")
    assert secret.is_error and "robots.txt disallows" in secret.text
    assert opened.text.endswith("open")
    assert pdf.is_error
    assert not_pdf.text.endswith("html")


async def test_robots_applies_to_every_redirect_hop(make_tool: ToolFactory) -> None:
    routes = site_routes(body(ROBOTS, "text/plain"))
    routes["/jump"] = redirect("/private/secret")
    async with running_site(routes) as site:
        result = await make_tool(robots=True).call({"url": site.url("/jump")})
        assert site.hits["/private/secret"] == 0
    assert result.is_error and "robots.txt disallows" in result.text


@pytest.mark.parametrize(
    ("status", "allowed"),
    [(404, True), (410, True), (400, True), (401, False), (403, False), (500, False), (503, False)],
)
async def test_the_status_of_robots_txt_decides(
    make_tool: ToolFactory, status: int, allowed: bool
) -> None:
    async with running_site(site_routes(body(b"Disallow: /", "text/plain", status))) as site:
        result = await make_tool(robots=True).call({"url": site.url("/")})
        assert site.hits["/"] == (1 if allowed else 0)
    if allowed:
        assert result.text.endswith("home"), result.text
    else:
        assert result.is_error and f"answered {status}" in result.text


async def test_an_unreachable_robots_txt_refuses(make_tool: ToolFactory) -> None:
    async with running_site({}) as site:
        url = site.url("/")
    result = await make_tool(robots=True).call({"url": url})
    assert result.is_error and "robots.txt could not be read" in result.text


async def test_a_robots_redirect_to_a_refused_address_refuses(make_tool: ToolFactory) -> None:
    async with running_site({"/robots.txt": body(b"", "text/plain")}) as inner:
        elsewhere = inner.url("/robots.txt").replace("127.0.0.1", "127.0.0.2")
        routes = site_routes(redirect(elsewhere))
        async with running_site(routes, host="127.0.0.3") as site:
            tool = make_tool(robots=True, allow=["127.0.0.3/32"])
            result = await tool.call({"url": site.url("/")})
            assert site.hits["/"] == 0
        assert inner.hits["/robots.txt"] == 0
    assert result.is_error and "robots.txt could not be checked" in result.text


async def test_robots_off_fetches_without_asking(make_tool: ToolFactory) -> None:
    async with running_site(site_routes(body(b"User-agent: *\nDisallow: /", "text/plain"))) as site:
        result = await make_tool(robots=False).call({"url": site.url("/private/secret")})
        assert site.hits["/robots.txt"] == 0
    assert result.text.endswith("secret")


async def test_verdicts_are_kept_five_minutes_and_refusals_one(ca: SiteCA) -> None:
    settings = FetchSettings(allow=["127.0.0.0/8"], ca_bundle=str(ca.bundle))
    client = HttpClient(settings, Guard(AddressPolicy.from_allow(settings.allow)))
    now = [1000.0]
    gate = RobotsGate(client, clock=lambda: now[0])
    try:
        async with running_site({"/robots.txt": body(b"", "text/plain", 503)}) as down:
            target = parse_target(down.url("/page"))
            for _ in range(2):
                with pytest.raises(FetchFailed, match="answered 503"):
                    await gate.check(target, deadline=time.monotonic() + 10)
            assert down.hits["/robots.txt"] == 1
            now[0] += 61
            with pytest.raises(FetchFailed):
                await gate.check(target, deadline=time.monotonic() + 10)
            assert down.hits["/robots.txt"] == 2
        async with running_site({"/robots.txt": body(ROBOTS, "text/plain")}) as up:
            page_target = parse_target(up.url("/page"))
            await gate.check(page_target, deadline=time.monotonic() + 10)
            now[0] += 299
            await gate.check(page_target, deadline=time.monotonic() + 10)
            assert up.hits["/robots.txt"] == 1
            now[0] += 2
            await gate.check(page_target, deadline=time.monotonic() + 10)
            assert up.hits["/robots.txt"] == 2
    finally:
        await client.close()
