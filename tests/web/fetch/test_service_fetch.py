"""WebService.fetch against real HTTP(S) sites on loopback: the page it answers (final URL
after redirects, title, media type, Markdown or raw) and the kind of every failure, which
the hosted web_fetch tool maps onto its error codes."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.fetch.addresses import Address
from autosred.web.fetch.content import Kind, title_of
from autosred.web.fetch.failure import FetchFailure, FetchFailureKind
from autosred.web.service import WebService
from tests.web.fetch.conftest import ServiceFactory
from tests.web.fetch.sites import SiteCA, body, never_answers, page, redirect, running_site

K = FetchFailureKind


async def kind_of_failure(service: WebService, url: str, **options: object) -> FetchFailure:
    with pytest.raises(FetchFailure) as failed:
        await service.fetch(url, **options)  # type: ignore[arg-type]
    assert str(failed.value) == failed.value.message and failed.value.message
    return failed.value


async def test_an_html_page_comes_back_as_markdown_with_its_title(
    make_service: ServiceFactory, ca: SiteCA
) -> None:
    routes = {
        "/old": redirect("/library/json.html", status=301),
        "/library/json.html": page("python-json.html"),
    }
    async with running_site(routes, ssl_context=ca.server_context("127.0.0.1")) as site:
        before = datetime.now(UTC)
        fetched = await make_service().fetch(site.url("/old"))
    assert fetched.url == site.url("/library/json.html")
    assert fetched.kind is Kind.HTML and fetched.media_type == "text/html"
    assert fetched.markdown and fetched.text.startswith("# ")
    assert "JSON encoder and decoder" in fetched.text and "<div" not in fetched.text
    assert fetched.title == "json — JSON encoder and decoder — Python 3.11.2 documentation"
    assert before <= fetched.retrieved_at <= datetime.now(UTC)


async def test_raw_is_the_html_as_sent_and_other_kinds_are_as_they_are(
    make_service: ServiceFactory,
) -> None:
    routes = {
        "/page": body(b"<html><title>T</title><p>x</p></html>", "text/html"),
        "/data": body(b'{"a": 1}', "application/json"),
        "/notes": body(b"# notes", "text/markdown; charset=utf-8"),
    }
    async with running_site(routes) as site:
        service = make_service()
        raw = await service.fetch(site.url("/page"), raw=True)
        data = await service.fetch(site.url("/data"))
        notes = await service.fetch(site.url("/notes"))
    assert raw.text == "<html><title>T</title><p>x</p></html>"
    assert not raw.markdown and raw.title == "T"
    assert (data.text, data.kind, data.media_type, data.title) == (
        '{"a": 1}',
        Kind.JSON,
        "application/json",
        None,
    )
    assert (notes.text, notes.kind, notes.markdown) == ("# notes", Kind.TEXT, False)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("ftp://example.com/file", K.URL_NOT_ALLOWED),
        ("file:///etc/passwd", K.URL_NOT_ALLOWED),
        ("http://user:secret@example.com/", K.URL_NOT_ALLOWED),
        ("http://[::1/", K.INVALID_URL),
        ("http://exa mple.com/", K.INVALID_URL),
        ("https://" + "a" * 9000 + ".com/", K.INVALID_URL),
        ("http://256.1.1.1/", K.INVALID_URL),
    ],
)
async def test_urls_that_cannot_be_fetched_fail_before_any_request(
    make_service: ServiceFactory, url: str, kind: FetchFailureKind
) -> None:
    assert (await kind_of_failure(make_service(), url)).kind is kind


async def test_the_kind_of_each_failure(make_service: ServiceFactory, ca: SiteCA) -> None:
    released = asyncio.Event()
    routes = {
        "/gone": body(b"nope", "text/plain", status=404),
        "/login": body(b"no", "text/plain", status=401),
        "/busy": body(b"slow down", "text/plain", status=429),
        "/broken": body(b"oops", "text/plain", status=503),
        "/image": body(b"\x89PNG\r\n", "image/png"),
        "/binary": body(b"\x00\x01\x02", None),
        "/big": body(b"x" * 2000, "text/plain"),
        "/loop": redirect("/loop"),
        "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/hang": never_answers(released),
    }
    async with running_site(routes) as site:
        service = make_service(max_bytes=1000, timeout=1, max_redirects=3)
        refused = make_service(allow=[])
        untrusting = make_service(ca_bundle=None)
        try:
            kinds = {path: (await kind_of_failure(service, site.url(path))).kind for path in routes}
        finally:
            released.set()
        loopback = await kind_of_failure(refused, site.url("/gone"))
        async with running_site(
            {"/": body(b"hi", "text/plain")}, ssl_context=ca.server_context("127.0.0.1")
        ) as tls_site:
            certificate = await kind_of_failure(untrusting, tls_site.url("/"))
    async with running_site({}) as closed:
        closed_url = closed.url("/")
    connection = await kind_of_failure(service, closed_url)
    assert kinds == {
        "/gone": K.URL_NOT_ACCESSIBLE,
        "/login": K.URL_NOT_ACCESSIBLE,
        "/busy": K.URL_NOT_ACCESSIBLE,
        "/broken": K.UNAVAILABLE,
        "/image": K.UNSUPPORTED_CONTENT_TYPE,
        "/binary": K.UNSUPPORTED_CONTENT_TYPE,
        "/big": K.TOO_LARGE,
        "/loop": K.URL_NOT_ACCESSIBLE,
        "/to-metadata": K.URL_NOT_ALLOWED,
        "/hang": K.TIMEOUT,
    }
    assert loopback.kind is K.URL_NOT_ALLOWED and "loopback" in loopback.message
    assert certificate.kind is K.UNAVAILABLE and "certificate" in certificate.message
    assert connection.kind is K.UNAVAILABLE and "Could not connect" in connection.message


class FakeDNS:
    """The resolver seam: a fixed table; a name not in it does not resolve."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def __call__(self, host: str, port: int) -> Sequence[Address]:
        if host not in self.table:
            raise OSError(f"{host}: Name or service not known")
        return [ipaddress.ip_address(address) for address in self.table[host]]


async def test_a_name_that_does_not_resolve_is_not_accessible(
    make_service: ServiceFactory,
) -> None:
    service = make_service(resolver=FakeDNS({}))
    failure = await kind_of_failure(service, "https://no-such-host.example/")
    assert failure.kind is K.URL_NOT_ACCESSIBLE and "could not be resolved" in failure.message


async def test_robots_txt_refusals_are_not_allowed_and_an_unreadable_one_unavailable(
    make_service: ServiceFactory,
) -> None:
    disallowing = {
        "/robots.txt": body(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        "/private/page": body(b"secret", "text/plain"),
    }
    forbidding = {"/robots.txt": body(b"no", "text/plain", status=403), "/": body(b"x", None)}
    failing = {"/robots.txt": body(b"oops", "text/plain", status=500), "/": body(b"x", None)}
    service = make_service(robots=True)
    async with running_site(disallowing) as site:
        disallowed = await kind_of_failure(service, site.url("/private/page"))
        assert site.hits["/private/page"] == 0
    async with running_site(forbidding) as site:
        forbidden = await kind_of_failure(service, site.url("/"))
    async with running_site(failing) as site:
        unreadable = await kind_of_failure(service, site.url("/"))
    assert disallowed.kind is K.URL_NOT_ALLOWED and "disallows" in disallowed.message
    assert forbidden.kind is K.URL_NOT_ALLOWED and "403" in forbidden.message
    assert unreadable.kind is K.UNAVAILABLE and "500" in unreadable.message


async def test_the_callers_host_rule_applies_to_every_hop(make_service: ServiceFactory) -> None:
    """A hosted tool's allowed/blocked domains: checked for the URL and for each redirect
    hop before its request, so a blocked site is never asked."""
    dns = FakeDNS({"allowed.test": ["127.0.0.1"], "blocked.test": ["127.0.0.1"]})
    async with running_site({"/": body(b"ok", "text/plain")}) as target:
        port = target.base.rsplit(":", 1)[1]
        routes = {"/hop": redirect(f"http://blocked.test:{port}/")}
        async with running_site(routes) as site:
            hop = site.url("/hop").replace("127.0.0.1", "allowed.test")
            service = make_service(resolver=dns)

            def not_blocked(host: str) -> bool:
                return host != "blocked.test"

            first = await kind_of_failure(
                service, f"http://blocked.test:{port}/", host_allowed=not_blocked
            )
            redirected = await kind_of_failure(service, hop, host_allowed=not_blocked)
            assert site.hits["/hop"] == 1
            assert target.hits["/"] == 0
            unrestricted = await service.fetch(hop)
    assert first.kind is K.URL_NOT_ALLOWED and redirected.kind is K.URL_NOT_ALLOWED
    assert "blocked.test" in redirected.message
    assert unrestricted.text == "ok" and unrestricted.url == f"http://blocked.test:{port}/"


async def test_a_service_without_fetch_says_so() -> None:
    service = WebService()
    failure = await kind_of_failure(service, "https://example.com/")
    assert failure.kind is K.UNAVAILABLE and "not enabled" in failure.message
    await service.close()


@pytest.mark.parametrize(
    ("html", "title"),
    [
        ("<html><head><title>Plain</title>", "Plain"),
        ("<TITLE lang='en'>  A &amp; B\n  c </Title >", "A & B c"),
        ("<title></title><title>second</title>", None),
        ("<title>never closed", None),
        ("<titles>not a title</titles>", None),
        ("<p>no title</p>", None),
    ],
)
def test_title_of(html: str, title: str | None) -> None:
    assert title_of(html) == title


@settings(max_examples=300)
@given(st.text(max_size=400), st.text(max_size=400))
def test_any_page_has_a_one_line_title_or_none(before: str, inside: str) -> None:
    found = title_of(f"{before}<title>{inside}</title>")
    assert found is None or (found and len(found) <= 300 and found == " ".join(found.split()))
