"""The browser's guard proxy with a real SOCKS5 client (curl ``--socks5-hostname``, which
sends the name as Chromium does) and real sites on loopback: an admitted name is resolved
once and connected to, refused addresses get the SOCKS "not allowed" reply and a refusal
naming why, the browser's own proxy refuses everything; and the request parser, fuzzed,
answers any bytes with a destination or a SocksError, nothing else."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.browser.socksguard import (
    Destination,
    GuardProxy,
    GuardRefusal,
    SocksError,
    read_request,
)
from autosred.web.fetch.addresses import Address, AddressPolicy
from autosred.web.fetch.guard import Guard
from tests.web.fetch.sites import Site, body, running_site

CURL_PROXY_REFUSED = 97
"""curl's exit status when the SOCKS proxy refuses the connection."""


class CountingResolver:
    """A fixed table of names (no system DNS), counting the lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[Address]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError("no such name")
        return [ipaddress.ip_address(address) for address in self.table[host]]


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async with running_site({"/hello": body(b"hello from the site", "text/plain")}) as running:
        yield running


async def curl(proxy: GuardProxy, url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "10", "--socks5-hostname", proxy.url.removeprefix("socks5://"),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, (out or err).decode()


async def test_an_allowed_name_is_resolved_once_and_reached(site: Site) -> None:
    port = int(site.base.rsplit(":", 1)[1])
    resolver = CountingResolver({"intranet.test": ["127.0.0.1"]})
    refused: list[GuardRefusal] = []
    guard = Guard(AddressPolicy.from_allow(["intranet.test"]), resolver)
    proxy = GuardProxy(
        guard=guard, host="127.0.0.1", log=logging.getLogger("t"), on_refused=refused.append
    )
    await proxy.start()
    try:
        code, text = await curl(proxy, f"http://intranet.test:{port}/hello")
        assert (code, text) == (0, "hello from the site")
        assert resolver.lookups == ["intranet.test"]
        assert site.hosts[-1] == f"intranet.test:{port}", "the Host header is the name"
        assert not refused and not proxy.refusals
    finally:
        await proxy.close()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:{port}/hello", "loopback"),
        ("http://[::1]:{port}/hello", "loopback"),
        ("http://rebound.test:{port}/hello", "rebound.test resolves to 10.0.0.8"),
        ("http://missing.test:{port}/hello", "could not be resolved"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ],
)
async def test_refused_addresses_get_not_allowed(site: Site, url: str, why: str) -> None:
    port = int(site.base.rsplit(":", 1)[1])
    resolver = CountingResolver({"rebound.test": ["10.0.0.8"]})
    guard = Guard(AddressPolicy(), resolver, tool="browser", allow_key="mcp.browser.allow")
    proxy = GuardProxy(guard=guard, host="127.0.0.1", log=logging.getLogger("t"))
    await proxy.start()
    try:
        code, _ = await curl(proxy, url.format(port=port))
        assert code == CURL_PROXY_REFUSED
        (refusal,) = proxy.refusals
        assert why in refusal.reason
        if "resolve" not in why or "resolves to" in why:
            assert "mcp.browser.allow" in refusal.reason
        assert site.hits["/hello"] == 0
    finally:
        await proxy.close()


async def test_the_browsers_own_proxy_refuses_everything(site: Site) -> None:
    proxy = GuardProxy(guard=None, host="127.0.0.1", log=logging.getLogger("t"))
    await proxy.start()
    try:
        code, _ = await curl(proxy, site.url("/hello"))
        assert code == CURL_PROXY_REFUSED
        assert site.hits["/hello"] == 0 and not proxy.refusals
    finally:
        await proxy.close()


async def test_close_cuts_a_piped_connection() -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the proxy's side goes away
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    guard = Guard(AddressPolicy.from_allow(["127.0.0.1/32"]))
    proxy = GuardProxy(guard=guard, host="127.0.0.1", log=logging.getLogger("t"))
    await proxy.start()
    host, proxy_port = proxy.address
    reader, writer = await asyncio.open_connection(host, proxy_port)
    writer.write(b"\x05\x01\x00" + b"\x05\x01\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big"))
    assert await reader.readexactly(2) == b"\x05\x00"
    assert (await reader.readexactly(10))[1] == 0  # succeeded: the pipe is open
    await proxy.close()
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    writer.close()
    server.close()
    await server.wait_closed()


async def parse(data: bytes) -> object:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    try:
        return await read_request(reader)
    except (SocksError, asyncio.IncompleteReadError) as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda command, atyp, rest: bytes((5, command, 0, atyp)) + rest,
            st.integers(0, 255),
            st.sampled_from([1, 3, 4, 0, 2, 255]),
            st.binary(max_size=300),
        ),
    )
)
def test_the_request_parser_answers_any_bytes(data: bytes) -> None:
    result = asyncio.run(parse(data))
    if isinstance(result, SocksError):
        assert result.reply is None or 0 < result.reply < 256
    elif not isinstance(result, asyncio.IncompleteReadError):
        assert isinstance(result, Destination)
        assert data[:2] == b"\x05\x01"
        assert 0 < result.port < 65536
        assert result.host


async def test_a_name_request_is_read_as_sent() -> None:
    name = b"example.com"
    data = b"\x05\x01\x00\x03" + bytes((len(name),)) + name + (443).to_bytes(2, "big")
    assert await parse(data) == Destination("example.com", 443)
    refused = await parse(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")
    assert isinstance(refused, SocksError) and refused.reply == 7
