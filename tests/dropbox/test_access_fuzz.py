"""Fuzzed: the Authorization parser, the state file reader, the failure limiter's memory."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.dropbox.access import Access, Denied, FailureLimiter, Principal, StateFileError
from autosred.dropbox.access.credentials import TOKEN_PREFIX, bearer_of, is_token, new_token
from autosred.dropbox.access.ratelimit import peer_key

SECRET = new_token()
ALPHABET = st.sampled_from("Bb ea\tr\r\n:_-=asdt_" + SECRET[5:15])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@given(st.text() | st.text(ALPHABET) | st.builds(lambda s: "Bearer " + s, st.text()))
def test_only_a_bearer_header_with_a_token_shape_is_read(header: str) -> None:
    token = bearer_of(header)
    if token is not None:
        assert is_token(token) and token.startswith(TOKEN_PREFIX)
        assert (
            header.rsplit(maxsplit=1)[-1] == token
            and header.split(maxsplit=1)[0].lower() == "bearer"
        )


@given(
    st.one_of(
        st.text(),
        st.builds(lambda s: f"Bearer {s}", st.text()),
        st.builds(lambda s: f"Bearer {TOKEN_PREFIX}{s}", st.text(max_size=60)),
    )
)
@settings(max_examples=300)
def test_no_header_but_the_token_authenticates(header: str) -> None:
    access = Access(
        path=Path("/nonexistent/never-written.json"),
        tokens=[],
        shares=[],
        clock=lambda: 0.0,
        limiter=FailureLimiter(burst=10**9),
        log=logging.getLogger("test"),
    )
    secret, _ = access.session_token()
    answer = access.authenticate(header, "192.0.2.1")
    if isinstance(answer, Principal):
        assert header.rsplit(maxsplit=1)[-1] == secret
    else:
        assert answer.reason in {"missing", "malformed", "unknown"}
    assert isinstance(access.authenticate(f"Bearer {secret}", "192.0.2.1"), Principal)
    assert isinstance(answer, Principal | Denied)


@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"version": st.just(1), "tokens": st.lists(json_values), "shares": json_values}
        ),
        st.fixed_dictionaries(
            {
                "version": st.just(1),
                "tokens": st.lists(
                    st.fixed_dictionaries(
                        {
                            "name": st.text(max_size=5) | st.just("alice"),
                            "sha256": st.just("0" * 64) | st.text(max_size=3),
                            "created": json_values,
                            "expires": json_values,
                            "read_only": json_values,
                            "revoked": json_values,
                        }
                    ),
                    max_size=2,
                ),
            }
        ),
    )
)
@settings(max_examples=200, deadline=None)
def test_any_state_file_loads_or_is_refused_by_name(value: object) -> None:
    with tempfile.TemporaryDirectory() as directory:
        state = Path(directory) / "access.json"
        state.write_text(json.dumps(value))
        state.chmod(0o600)
        try:
            access = asyncio.run(Access.open(state))
        except StateFileError as exc:
            assert "access.json" in str(exc)
        else:
            for info in access.tokens():
                assert info.name == "alice"


@given(st.lists(st.text(max_size=45), max_size=50))
def test_the_limiter_keeps_at_most_max_peers(peers: list[str]) -> None:
    limiter = FailureLimiter(burst=1, max_peers=8, clock=lambda: 0.0)
    for peer in peers:
        limiter.failed(peer)
    assert len(limiter) <= 8
    if peers:
        assert limiter.blocked(peers[-1])


def test_ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert peer_key("2001:db8:1:2::1") == peer_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert peer_key("2001:db8:1:3::1") != peer_key("2001:db8:1:2::1")
    assert peer_key("::ffff:192.0.2.1") == "192.0.2.1" == peer_key("192.0.2.1")
    assert peer_key("fe80::1%eth0") == "fe80::/64"
