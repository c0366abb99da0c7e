"""The DNS-rebinding guard's pure part: reading Host and Origin, and which names a listener
answers to (autosred/mcp/host/authority.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autosred.mcp.host.authority import (
    Authority,
    HostPolicy,
    normalise_host,
    parse_host,
    parse_origin,
)

LOCAL_V4 = Authority("127.0.0.1", 8011)
LOCAL_V6 = Authority("::1", 8011)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8011", Authority("127.0.0.1", 8011)),
        ("LocalHost:8011", Authority("localhost", 8011)),
        ("localhost.:8011", Authority("localhost", 8011)),
        ("[::1]:8011", Authority("::1", 8011)),
        ("[0:0:0:0:0:0:0:1]:8011", Authority("::1", 8011)),
        ("[::ffff:127.0.0.1]:8011", Authority("127.0.0.1", 8011)),
        ("example.org", Authority("example.org", 80)),
        ("[::1]", Authority("::1", 80)),
    ],
)
def test_host_header_forms(value: str, expected: Authority) -> None:
    assert parse_host(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        ":8011",
        "localhost:",
        "localhost:port",
        "localhost:0",
        "localhost:65536",
        "localhost:8011:1",
        "::1:8011",
        "[::1",
        "[::1]x",
        "[not-v6]:80",
        "user@localhost:8011",
        "localhost/x",
        "localhost:٨٠",
    ],
)
def test_what_is_no_host(value: str) -> None:
    assert parse_host(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:8011", Authority("127.0.0.1", 8011)),
        ("HTTP://localhost:8011", Authority("localhost", 8011)),
        ("https://example.org", Authority("example.org", 443)),
        ("http://example.org", Authority("example.org", 80)),
        ("null", None),
        ("file://", None),
        ("chrome-extension://abcdef", None),
        ("http://localhost:8011/path", None),
    ],
)
def test_origin_forms(value: str, expected: Authority | None) -> None:
    assert parse_origin(value) == expected


def test_loopback_listener_answers_to_its_loopback_names_on_its_port() -> None:
    policy = HostPolicy(listen_hosts=["127.0.0.1"], allowed=[])
    for host in ("127.0.0.1", "localhost", "::1"):
        assert policy.allows(Authority(host, 8011), local=LOCAL_V4)
        assert policy.allows(Authority(host, 8011), local=LOCAL_V6)
    # Another port is another origin (a page served there, another listener).
    assert not policy.allows(Authority("localhost", 8012), local=LOCAL_V4)
    # The name a rebinding page's host has.
    assert not policy.allows(Authority("attacker.example", 8011), local=LOCAL_V4)
    assert not policy.allows(Authority("127.0.0.1.nip.io", 8011), local=LOCAL_V4)


def test_non_loopback_listener_answers_to_its_address_not_to_localhost_names() -> None:
    local = Authority("192.0.2.10", 8011)
    policy = HostPolicy(listen_hosts=["0.0.0.0"], allowed=[])
    assert policy.allows(Authority("192.0.2.10", 8011), local=local)
    assert not policy.allows(Authority("localhost", 8011), local=local)
    assert not policy.allows(Authority("box.lan", 8011), local=local)


def test_configured_names_and_forwarded_ports() -> None:
    local = Authority("192.0.2.10", 8011)
    policy = HostPolicy(listen_hosts=["gpu-box.lan"], allowed=["Tunnel.Example", "localhost:9011"])
    assert policy.allows(Authority("gpu-box.lan", 8011), local=local)
    assert policy.allows(Authority("tunnel.example", 8011), local=local)
    assert not policy.allows(Authority("tunnel.example", 9011), local=local)
    assert policy.allows(Authority("localhost", 9011), local=local)
    assert not policy.allows(Authority("localhost", 8011), local=local)


def test_a_bad_allowed_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        HostPolicy(listen_hosts=[], allowed=["http://x/"])


@given(st.text(max_size=80))
def test_any_header_value_parses_or_is_refused_without_raising(value: str) -> None:
    for parsed in (parse_host(value), parse_origin(value)):
        if parsed is not None:
            assert 0 < parsed.port < 65536
            assert parsed.host == normalise_host(parsed.host)


@given(
    st.one_of(
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
        st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
    ),
    st.integers(min_value=1, max_value=65535),
)
def test_a_host_and_port_read_back_as_written(host: str, port: int) -> None:
    parsed = parse_host(f"{host}:{port}")
    assert parsed is not None
    assert parsed.port == port
    assert parsed.host == normalise_host(host.strip("[]"))
    assert parse_origin(f"http://{host}:{port}") == parsed
