"""URL parsing, pure and fuzzed: every input is a Target or a BadUrl; the rebuilt URL parses
back to the same Target; a host that ends in a number is read as WHATWG (and curl) read it."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.fetch.urls import BadUrl, Target, parse_ipv4, parse_target, resolve_location


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://0x7F.1/", "127.0.0.1"),
        ("http://017700000001/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://127.0.1/", "127.0.0.1"),
        ("http://127.0.0.1./", "127.0.0.1"),
        ("http://0/", "0.0.0.0"),
        ("http://0x/", "0.0.0.0"),
        ("http://169.254.43518/", "169.254.169.254"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
        ("http://[0:0:0:0:0:0:0:1]/", "::1"),
    ],
)
def test_numeric_hosts_are_read_as_addresses(url: str, address: str) -> None:
    target = parse_target(url)
    assert target.address == ipaddress.ip_address(address)
    assert parse_target(target.url) == target


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("example.com/page", "only http and https"),
        ("//example.com/", "only http and https"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://user@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http:///path", "no host"),
        ("http://08/", "not a valid IPv4"),
        ("http://1.2.3.4.5/", "not a valid IPv4"),
        ("http://256.0.0.1/", "out of range"),
        ("http://1.16777216/", "out of range"),
        ("http://exa mple.com/", "not a valid host"),
        ("http://exa%6dple.com/", "not a valid host"),
        ("http://a..b/", "not a valid host"),
        ("http://[::1/", "could not be parsed"),
        ("http://[zz::1]/", "could not be parsed"),
        ("http://example.com:99999/", "could not be parsed"),
        ("http://example.com:0/", "Port 0"),
        ("http://exa\x00mple.com/", "control characters"),
        ("http://example.com/\r\nHost: evil", "control characters"),
        ("http://example.com/" + "a" * 9000, "over 8,192"),
    ],
)
def test_refused_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(BadUrl, match=why):
        parse_target(url)


def test_names_are_lower_case_ascii_and_paths_escaped() -> None:
    target = parse_target("HTTPS://Bücher.Example:443/ä b?q=ö&x=1#frag")
    assert target == Target("https", "xn--bcher-kva.example", 443, None, "/%C3%A4%20b?q=%C3%B6&x=1")
    assert target.url == "https://xn--bcher-kva.example/%C3%A4%20b?q=%C3%B6&x=1"
    assert target.origin == "https://xn--bcher-kva.example"
    assert parse_target("http://h.test:8080").url == "http://h.test:8080/"
    assert parse_target("http://[2001:db8::1]:81/").netloc == "[2001:db8::1]:81"


def test_redirect_locations_resolve_against_the_page() -> None:
    base = parse_target("https://site.test/a/b/page?x=1")
    assert resolve_location(base, "other").url == "https://site.test/a/b/other"
    assert resolve_location(base, "/root").url == "https://site.test/root"
    assert resolve_location(base, "//cdn.test/x").url == "https://cdn.test/x"
    assert resolve_location(base, "http://2130706433/").address == ipaddress.ip_address("127.0.0.1")
    with pytest.raises(BadUrl):
        resolve_location(base, "file:///etc/passwd")


@settings(max_examples=500)
@given(st.text(max_size=80))
def test_any_text_is_a_target_or_a_bad_url(text: str) -> None:
    try:
        parse_target(text)
    except BadUrl:
        pass


HOSTS = st.one_of(
    st.from_regex(r"[a-zA-Z0-9.\-_%@:\[\]\\]{1,20}", fullmatch=True),
    st.integers(0, 2**32 + 5).map(str),
    st.integers(0, 2**32).map(hex),
    st.lists(st.integers(0, 300), min_size=1, max_size=5).map(lambda p: ".".join(map(str, p))),
)


@settings(max_examples=500)
@given(st.sampled_from(["http", "https", "HTTP"]), HOSTS, st.text(max_size=20))
def test_what_parses_rebuilds_to_a_clean_url_that_parses_the_same(
    scheme: str, host: str, path: str
) -> None:
    try:
        target = parse_target(f"{scheme}://{host}/{path}")
    except BadUrl:
        return
    assert parse_target(target.url) == target
    # What curl sees: a dotted IPv4, a bracketed IPv6, or a lower-case ASCII name.
    netloc_host = target.netloc.rsplit(":", 1)[0] if not target.netloc.startswith("[") else None
    if target.address is None:
        assert netloc_host is not None
        assert all(c.isascii() and (c.isalnum() or c in "-._") for c in netloc_host)
        assert netloc_host == netloc_host.lower()
        # A name never ends in a number: that would be an address to curl.
        assert parse_ipv4(netloc_host) is None
    assert all(33 <= ord(c) < 127 for c in target.url)


@given(st.integers(0, 2**32 - 1))
def test_every_ipv4_spelling_reads_the_same(value: int) -> None:
    address = ipaddress.IPv4Address(value)
    octets = [int(o) for o in str(address).split(".")]
    spellings = [
        str(value),
        hex(value),
        "0" + oct(value)[2:],
        ".".join(hex(o) for o in octets),
        f"{octets[0]}.{(octets[1] << 16) | (octets[2] << 8) | octets[3]}",
    ]
    for spelling in spellings:
        assert parse_ipv4(spelling) == address, spelling
