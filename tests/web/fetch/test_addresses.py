"""The SSRF guard's address policy, pure: the refused ranges, the IPv6 forms that carry an
IPv4 address, ``allow``; fuzzed against ``ipaddress`` and against itself."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.fetch.addresses import REFUSED_V4, REFUSED_V6, AddressPolicy

POLICY = AddressPolicy()

v4s = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
v6s = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


def refused(text: str, policy: AddressPolicy = POLICY) -> bool:
    return policy.check(ipaddress.ip_address(text)) is not None


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",
        "127.255.255.254",
        "0.0.0.0",
        "0.1.2.3",
        "10.0.0.1",
        "10.255.255.255",
        "100.64.0.1",
        "100.127.255.255",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "192.0.0.8",
        "192.0.2.1",
        "198.18.0.1",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "febf::1",
        "fc00::1",
        "fdff::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:0.0.0.0",
        "::127.0.0.1",
        "::8.8.8.8",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b::c0a8:101",
        "64:ff9b:1::808:808",
        "2002:7f00:1::",
        "2002:a00:1::1",
        "2002:a9fe:a9fe::",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2001:db8::1",
        "3fff::1",
        "2001:2::1",
        "2001:10::1",
        "100::1",
        "5f00::1",
    ],
)
def test_refused_by_default(text: str) -> None:
    assert refused(text), text


@pytest.mark.parametrize(
    "text",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(text: str) -> None:
    assert not refused(text), POLICY.check(ipaddress.ip_address(text))


def test_the_reason_names_the_kind() -> None:
    refusal = POLICY.check(ipaddress.ip_address("::ffff:169.254.169.254"))
    assert refusal is not None
    assert "link-local" in refusal.reason and "169.254.169.254" in refusal.reason


@given(v4s)
def test_ipv6_forms_of_an_ipv4_address_get_its_verdict(v4: ipaddress.IPv4Address) -> None:
    verdict = refused(str(v4))
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    nat64 = ipaddress.IPv6Address((0x64FF9B << 96) | int(v4))
    assert (POLICY.check(mapped) is not None) == verdict
    assert (POLICY.check(nat64) is not None) == verdict
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80) | 1)
    if verdict:
        assert POLICY.check(sixtofour) is not None


@given(v4s)
def test_an_allowed_ipv4_address_is_global_unicast(v4: ipaddress.IPv4Address) -> None:
    if not refused(str(v4)):
        assert v4.is_global and not v4.is_multicast, v4


@given(v6s)
def test_an_allowed_ipv6_address_is_global_unicast_or_carries_one(
    v6: ipaddress.IPv6Address,
) -> None:
    if POLICY.check(v6) is not None:
        return
    carried = v6.ipv4_mapped or (
        ipaddress.IPv4Address(int(v6) & 0xFFFFFFFF)
        if v6 in ipaddress.ip_network("64:ff9b::/96")
        else None
    )
    if carried is not None:
        assert carried.is_global and not carried.is_multicast
    else:
        assert v6 in ipaddress.ip_network("2000::/3")
        assert not any(v6 in network for network, _why in REFUSED_V6)


@given(v4s, st.integers(8, 32))
def test_allow_opens_exactly_its_network(v4: ipaddress.IPv4Address, prefix: int) -> None:
    network = ipaddress.ip_network(f"{v4}/{prefix}", strict=False)
    policy = AddressPolicy.from_allow([str(network)])
    assert policy.check(v4) is None
    assert policy.check(ipaddress.IPv6Address(f"::ffff:{v4}")) is None
    outside = network.broadcast_address + 1 if int(network.broadcast_address) < 2**32 - 1 else None
    if outside is not None:
        assert (policy.check(outside) is None) == (POLICY.check(outside) is None)


def test_every_refused_v4_range_is_refused_at_both_ends() -> None:
    for network, _why in REFUSED_V4:
        assert refused(str(network.network_address)) and refused(str(network.broadcast_address))


@settings(max_examples=200)
@given(
    st.from_regex(r"[a-z0-9*.\-]{1,30}", fullmatch=True),
    st.from_regex(r"[a-z0-9.\-]{1,30}", fullmatch=True),
)
def test_host_allow_matches_the_name_or_its_sub_domains(entry: str, host: str) -> None:
    policy = AddressPolicy.from_allow([entry])
    allowed = policy.host_allowed(host)
    name = host.rstrip(".")
    expected = entry.rstrip(".")
    if expected.startswith("*."):
        assert allowed == (name.endswith(expected[1:]) and len(name) > len(expected) - 1)
    else:
        assert allowed == (name == expected)


def test_host_allow_examples() -> None:
    policy = AddressPolicy.from_allow(["wiki.internal", "*.corp.example", "10.1.0.0/16"])
    assert policy.host_allowed("WIKI.internal.")
    assert not policy.host_allowed("evilwiki.internal")
    assert policy.host_allowed("a.corp.example") and policy.host_allowed("a.b.corp.example")
    assert not policy.host_allowed("corp.example") and not policy.host_allowed("xcorp.example")
    assert policy.check(ipaddress.ip_address("10.1.2.3")) is None
    assert policy.check(ipaddress.ip_address("10.2.0.1")) is not None
