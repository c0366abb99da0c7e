"""The SSRF guard through the tool, against real sites on loopback: with ``allow`` empty
every loopback form is refused before any connection; a redirect from an allowed site to
a refused address is refused; a name is resolved once and curl connects to the checked
address (the name stays the TLS SNI and the Host)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from autosred.web.fetch.addresses import Address
from autosred.web.fetch.client import check_peer
from autosred.web.fetch.guard import Admitted, Refused
from autosred.web.fetch.urls import parse_target
from tests.mcp.fetch.conftest import ToolFactory
from tests.web.fetch.sites import SiteCA, body, echo_host, redirect, running_site

LOOPBACK_FORMS = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST.:{port}/",
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://0x7f.1:{port}/",
    "http://017700000001:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://127.1:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://0:{port}/",
    "http://0.0.0.0:{port}/",
    "http://[::]:{port}/",
]

OTHER_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[ff02::1]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b:1::a00:1]/",
]


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
async def test_every_loopback_form_is_refused_before_connecting(
    make_tool: ToolFactory, form: str
) -> None:
    async with running_site({"/": body(b"secret", "text/plain")}) as site:
        port = site.base.rsplit(":", 1)[1]
        result = await make_tool(allow=[]).call({"url": form.format(port=port)})
        assert result.is_error, result.text
        assert "Refused to fetch" in result.text
        assert "mcp.fetch.allow" in result.text
        assert "secret" not in result.text
        assert site.hits["/"] == 0


@pytest.mark.parametrize("url", OTHER_REFUSED)
async def test_private_link_local_and_reserved_addresses_are_refused(
    make_tool: ToolFactory, url: str
) -> None:
    result = await make_tool(allow=[]).call({"url": url})
    assert result.is_error and "Refused to fetch" in result.text, result.text


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/", "gopher://example.com/", "dict://x:11211/"],
)
async def test_other_schemes_are_refused(make_tool: ToolFactory, url: str) -> None:
    result = await make_tool(allow=[]).call({"url": url})
    assert result.is_error and "only http and https" in result.text


async def test_credentials_in_the_url_are_refused(make_tool: ToolFactory) -> None:
    async with running_site({"/": body(b"secret", "text/plain")}) as site:
        url = site.base.replace("://", "://user:pass@") + "/"
        result = await make_tool().call({"url": url})
        confusing = await make_tool().call({"url": f"http://example.com@{site.base[7:]}/"})
        assert site.hits["/"] == 0
    assert result.is_error and "credentials" in result.text
    assert confusing.is_error and "credentials" in confusing.text


async def test_a_redirect_from_an_allowed_site_to_a_refused_address_is_refused(
    make_tool: ToolFactory,
) -> None:
    async with running_site({"/secret": body(b"metadata", "text/plain")}) as inner:
        target = inner.url("/secret").replace("127.0.0.1", "127.0.0.2")
        async with running_site({"/go": redirect(target)}, host="127.0.0.3") as outer:
            # The outer site is opened; the inner one (127.0.0.2) is not.
            tool = make_tool(allow=["127.0.0.3/32"])
            result = await tool.call({"url": outer.url("/go")})
            assert outer.hits["/go"] == 1
    assert result.is_error, result.text
    assert "redirected to" in result.text and "loopback" in result.text
    assert inner.hits["/secret"] == 0


class FakeDNS:
    """A resolver with fixed answers that counts lookups (the tool's resolver seam)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[Address]:
        self.lookups.append(host)
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return [ipaddress.ip_address(a) for a in self.answers[host]]


async def test_a_name_is_resolved_once_and_curl_connects_to_the_checked_address(
    make_tool: ToolFactory, ca: SiteCA
) -> None:
    # site.test resolves nowhere but through the tool's resolver: the page arriving proves
    # curl used the pinned address, the certificate for site.test (and no other name)
    # proves the SNI was the name, the echo proves the Host header was.
    dns = FakeDNS({"site.test": ["127.0.0.1"]})
    context = ca.server_context("site.test")
    async with running_site({"/who": echo_host()}, ssl_context=context) as site:
        port = site.base.rsplit(":", 1)[1]
        tool = make_tool(resolver=dns)
        result = await tool.call({"url": f"https://site.test:{port}/who"})
    assert not result.is_error, result.text
    assert result.text.endswith(f"host=site.test:{port}")
    assert dns.lookups == ["site.test"]


async def test_a_name_with_any_refused_address_is_refused(make_tool: ToolFactory) -> None:
    dns = FakeDNS({"mixed.test": ["127.0.0.1", "10.1.2.3"], "meta.test": ["169.254.169.254"]})
    async with running_site({"/": body(b"page", "text/plain")}) as site:
        port = site.base.rsplit(":", 1)[1]
        tool = make_tool(resolver=dns)
        mixed = await tool.call({"url": f"http://mixed.test:{port}/"})
        meta = await tool.call({"url": "http://meta.test/"})
        assert site.hits["/"] == 0
    assert mixed.is_error and "10.1.2.3 is private" in mixed.text
    assert meta.is_error and "link-local" in meta.text


async def test_a_host_name_in_allow_opens_it_whatever_it_resolves_to(
    make_tool: ToolFactory,
) -> None:
    dns = FakeDNS({"wiki.internal": ["127.0.0.1"], "other.internal": ["127.0.0.1"]})
    async with running_site({"/": body(b"wiki page", "text/plain")}) as site:
        port = site.base.rsplit(":", 1)[1]
        tool = make_tool(resolver=dns, allow=["wiki.internal"])
        opened = await tool.call({"url": f"http://wiki.internal:{port}/"})
        closed = await tool.call({"url": f"http://other.internal:{port}/"})
    assert opened.text.endswith("wiki page")
    assert closed.is_error and "loopback" in closed.text


async def test_an_unknown_name_is_a_tool_error(make_tool: ToolFactory) -> None:
    result = await make_tool(resolver=FakeDNS({})).call({"url": "https://nowhere.test/"})
    assert result.is_error and "could not be resolved" in result.text


async def test_ipv6_literals_and_names_pinned_to_ipv6_when_allowed(make_tool: ToolFactory) -> None:
    dns = FakeDNS({"six.test": ["::1"]})
    async with running_site({"/": echo_host()}, host="::1") as site:
        port = site.base.rsplit(":", 1)[1]
        tool = make_tool(resolver=dns, allow=["::1/128"])
        literal = await tool.call({"url": f"http://[::1]:{port}/"})
        named = await tool.call({"url": f"http://six.test:{port}/"})
        refused = await make_tool(resolver=dns, allow=[]).call({"url": f"http://six.test:{port}/"})
    assert literal.text.endswith(f"host=[::1]:{port}"), literal.text
    assert named.text.endswith(f"host=six.test:{port}"), named.text
    assert refused.is_error and "::1 is loopback" in refused.text


def test_a_connection_to_an_address_the_guard_did_not_check_is_refused() -> None:
    admitted = Admitted(parse_target("http://site.test/"), (ipaddress.ip_address("127.0.0.1"),))
    check_peer(admitted, "127.0.0.1")
    for peer in ("10.0.0.1", "::1", "", "garbage"):
        with pytest.raises(Refused, match="not to an address the guard checked"):
            check_peer(admitted, peer)


async def test_proxy_variables_are_not_used(
    make_tool: ToolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through a proxy, the proxy would resolve the name and the guard's check would mean
    # nothing; the tool connects itself.
    async with running_site({"/": body(b"from the proxy", "text/plain")}) as proxy:
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.base)
        async with running_site({"/": body(b"from the site", "text/plain")}) as site:
            result = await make_tool().call({"url": site.url("/")})
        assert proxy.hits.total() == 0
    assert result.text.endswith("from the site")
