"""The dropbox's access state: tokens, autosrectl's session tokens, share links, on disk."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import stat
from pathlib import Path

import pytest

from autosred.daemon.dropboxcontrol import share_origin
from autosred.dropbox.access import (
    LOCAL_NAME,
    Access,
    AccessError,
    Denied,
    FailureLimiter,
    Principal,
    SharedFile,
    StateFileError,
    TokenExists,
    UnknownToken,
)
from autosred.dropbox.access.credentials import SHARE_PREFIX, TOKEN_PREFIX
from autosred.dropbox.storage import Quota
from tests.dropbox.conftest import Clock

PEER = "192.0.2.7"
FILE_ID = "A" * 32


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "dropbox" / "access.json"


async def opened(state: Path, clock: Clock, *, burst: int = 1000) -> Access:
    return await Access.open(state, clock=clock, limiter=FailureLimiter(burst=burst, clock=clock))


def bearer(secret: str) -> str:
    return f"Bearer {secret}"


async def test_a_created_token_authenticates_as_its_name_with_its_quota(
    state: Path, clock: Clock
) -> None:
    access = await opened(state, clock)
    quota = Quota(max_bytes=10 << 30, max_files=5)
    secret, info = await access.create_token("alice", quota=quota, read_only=True)
    assert secret.startswith(TOKEN_PREFIX)
    assert len(secret) - len(TOKEN_PREFIX) == 43  # 32 random bytes, 256 bits
    assert info.name == "alice" and info.quota == quota and info.read_only
    principal = access.authenticate(bearer(secret), PEER)
    assert principal == Principal(name="alice", read_only=True, quota=quota, sees_all=False)
    assert access.authenticate(f"bearer   {secret}", PEER) == principal  # scheme any case


async def test_only_a_digest_is_stored_0600_and_a_reopened_state_knows_the_token(
    state: Path, clock: Clock
) -> None:
    access = await opened(state, clock)
    secret, _ = await access.create_token("alice")
    raw = state.read_text()
    assert secret not in raw and secret[len(TOKEN_PREFIX) :] not in raw
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    assert [entry.name for entry in state.parent.iterdir()] == ["access.json"]
    again = await opened(state, clock)
    assert isinstance(again.authenticate(bearer(secret), PEER), Principal)
    assert [info.name for info in again.tokens()] == ["alice"]


async def test_tokens_expire_by_the_clock(state: Path, clock: Clock) -> None:
    access = await opened(state, clock)
    secret, info = await access.create_token("bob", expires_in=3600)
    assert info.expires == clock.now + 3600
    clock.now += 3599
    assert isinstance(access.authenticate(bearer(secret), PEER), Principal)
    clock.now += 1
    assert access.authenticate(bearer(secret), PEER) == Denied("expired")
    assert access.token_state(access.tokens()[0]) == "expired"


async def test_a_revoked_token_is_refused_and_stays_revoked_after_a_restart(
    state: Path, clock: Clock
) -> None:
    access = await opened(state, clock)
    secret, _ = await access.create_token("carol")
    with pytest.raises(TokenExists):
        await access.create_token("carol")
    revoked = await access.revoke("carol")
    assert revoked.revoked
    assert access.authenticate(bearer(secret), PEER) == Denied("revoked")
    again = await opened(state, clock)
    assert again.authenticate(bearer(secret), PEER) == Denied("revoked")
    with pytest.raises(UnknownToken):
        await again.revoke("carol")
    # The name is given a new token (and with it its files); the old one stays revoked.
    fresh, _ = await again.create_token("carol")
    assert isinstance(again.authenticate(bearer(fresh), PEER), Principal)
    assert again.authenticate(bearer(secret), PEER) == Denied("revoked")
    assert [again.token_state(info) for info in again.tokens()] == ["revoked", "active"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic YWxpY2U6cHc=", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer asdt_short", "malformed"),
        ("Bearer\tasdt_" + "a" * 43, "malformed"),
        ("Bearer asdt_" + "a" * 43 + " extra", "malformed"),
        ("Bearer asds_" + "a" * 43, "malformed"),  # a share secret is no bearer token
        ("Bearer asdt_" + "a" * 43 + "\r\nX-Injected: 1", "malformed"),
        ("Bearer asdt_" + "a" * 43, "unknown"),
    ],
)
async def test_refusals_name_their_reason(
    state: Path, clock: Clock, header: str | None, reason: str
) -> None:
    access = await opened(state, clock)
    await access.create_token("alice")
    assert access.authenticate(header, PEER) == Denied(reason)  # type: ignore[arg-type]


async def test_bad_names_and_lifetimes_are_refused(state: Path, clock: Clock) -> None:
    access = await opened(state, clock)
    for name in ["", "-x", ".hidden", "a/b", "a b", "x" * 65, LOCAL_NAME, "é"]:
        with pytest.raises(AccessError):
            await access.create_token(name)
    with pytest.raises(AccessError):
        await access.create_token("alice", expires_in=0)
    assert access.tokens() == [] and not state.exists()


@pytest.mark.parametrize("lifetime", [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e300])
async def test_lifetimes_that_are_no_finite_positive_number_are_refused(
    state: Path, clock: Clock, lifetime: float
) -> None:
    access = await opened(state, clock)
    with pytest.raises(AccessError, match="lifetime"):
        await access.create_token("alice", expires_in=lifetime)
    with pytest.raises(AccessError, match="lifetime"):
        await access.create_share("alice", FILE_ID, expires_in=lifetime)
    assert access.tokens() == [] and access.shares() == [] and not state.exists()


async def test_guesses_are_rate_limited_per_address_and_the_bucket_refills(
    state: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    access = await opened(state, clock, burst=3)
    secret, _ = await access.create_token("alice")
    guess = bearer(TOKEN_PREFIX + "b" * 43)
    assert [access.authenticate(guess, PEER).reason for _ in range(3)] == ["unknown"] * 3  # type: ignore[union-attr]
    # Now even the right token is refused from that address, never from another.
    assert access.authenticate(bearer(secret), PEER) == Denied("rate_limited")
    assert isinstance(access.authenticate(bearer(secret), "192.0.2.8"), Principal)
    assert await access.claim_share(SHARE_PREFIX + "c" * 43, PEER) == Denied("rate_limited")
    assert [r.getMessage() for r in caplog.records] == ["dropbox.auth.rate_limited"]
    clock.now += 10  # the default refill: one attempt every 10 s
    assert isinstance(access.authenticate(bearer(secret), PEER), Principal)


async def test_known_but_expired_or_revoked_tokens_are_not_counted_as_guesses(
    state: Path, clock: Clock
) -> None:
    access = await opened(state, clock, burst=2)
    old, _ = await access.create_token("alice")
    await access.revoke("alice")
    assert {access.authenticate(bearer(old), PEER).reason for _ in range(10)} == {"revoked"}  # type: ignore[union-attr]
    new, _ = await access.create_token("alice")
    assert isinstance(access.authenticate(bearer(new), PEER), Principal)


async def test_a_session_token_is_autosrectl_sees_all_in_memory_and_short_lived(
    state: Path, clock: Clock
) -> None:
    access = await opened(state, clock)
    secret, expires = access.session_token(ttl=600)
    assert expires == clock.now + 600
    principal = access.authenticate(bearer(secret), PEER)
    assert principal == access.local_principal()
    assert isinstance(principal, Principal) and principal.sees_all and principal.name == LOCAL_NAME
    assert not state.exists()  # never written
    again = await opened(state, clock)
    assert again.authenticate(bearer(secret), PEER) == Denied("unknown")
    clock.now += 600
    assert access.authenticate(bearer(secret), PEER) == Denied("expired")


async def test_session_tokens_are_bounded(state: Path, clock: Clock) -> None:
    access = await opened(state, clock)
    first, _ = access.session_token()
    for _ in range(300):
        clock.now += 1
        access.session_token()
    assert access.authenticate(bearer(first), PEER) == Denied("unknown")


async def test_a_share_gives_its_file_until_it_expires(state: Path, clock: Clock) -> None:
    access = await opened(state, clock)
    secret, info = await access.create_share("alice", FILE_ID, expires_in=3600)
    assert secret.startswith(SHARE_PREFIX) and secret not in state.read_text()
    assert info.remaining is None and info.expires == clock.now + 3600
    for _ in range(3):
        assert await access.claim_share(secret, PEER) == SharedFile("alice", FILE_ID)
    clock.now += 3600
    assert await access.claim_share(secret, PEER) == Denied("expired")
    assert await access.claim_share("../../etc/passwd", PEER) == Denied("malformed")
    assert await access.claim_share(SHARE_PREFIX + "z" * 43, PEER) == Denied("unknown")


async def test_twenty_parallel_claims_of_a_one_download_link_give_exactly_one_file(
    state: Path, clock: Clock
) -> None:
    access = await opened(state, clock)
    secret, _ = await access.create_share("alice", FILE_ID, expires_in=60, max_downloads=1)
    results = await asyncio.gather(*(access.claim_share(secret, PEER) for _ in range(20)))
    assert results.count(SharedFile("alice", FILE_ID)) == 1
    assert results.count(Denied("used_up")) == 19
    # The count was on disk before the claim returned: a restart does not give another.
    again = await opened(state, clock)
    assert await again.claim_share(secret, PEER) == Denied("used_up")
    assert [share.remaining for share in again.shares()] == [0]


async def test_a_share_with_n_downloads_gives_n(state: Path, clock: Clock) -> None:
    access = await opened(state, clock)
    secret, _ = await access.create_share("alice", FILE_ID, expires_in=60, max_downloads=3)
    results = await asyncio.gather(*(access.claim_share(secret, PEER) for _ in range(8)))
    assert results.count(SharedFile("alice", FILE_ID)) == 3
    with pytest.raises(AccessError):
        await access.create_share("alice", FILE_ID, expires_in=60, max_downloads=0)
    with pytest.raises(AccessError):
        await access.create_share("alice", FILE_ID, expires_in=0)


async def test_shares_long_expired_are_dropped_from_the_state(state: Path, clock: Clock) -> None:
    access = await opened(state, clock)
    await access.create_share("alice", FILE_ID, expires_in=60)
    clock.now += 60 + 24 * 3600
    await access.create_share("alice", FILE_ID, expires_in=60)
    assert len(access.shares()) == 1
    assert len(json.loads(state.read_text())["shares"]) == 1


async def test_a_failed_write_changes_nothing(state: Path, clock: Clock) -> None:
    access = await opened(state, clock)
    secret, _ = await access.create_token("alice")
    # A directory where the temporary file goes: the next write fails before the rename.
    (state.parent / ".access.json.tmp").mkdir()
    with pytest.raises(OSError):
        await access.revoke("alice")
    with pytest.raises(OSError):
        await access.create_token("bob")
    assert isinstance(access.authenticate(bearer(secret), PEER), Principal)
    assert [info.name for info in access.tokens()] == ["alice"]


async def test_a_state_file_others_may_read_is_refused(state: Path, clock: Clock) -> None:
    access = await opened(state, clock)
    await access.create_token("alice")
    os.chmod(state, 0o644)
    with pytest.raises(StateFileError, match="chmod 0600"):
        await opened(state, clock)


async def test_a_planted_link_is_not_followed(state: Path, tmp_path: Path, clock: Clock) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"version": 1, "tokens": [], "shares": []}))
    elsewhere.chmod(0o600)
    state.parent.mkdir(parents=True)
    state.symlink_to(elsewhere)
    with pytest.raises(StateFileError, match="symbolic link"):
        await opened(state, clock)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "tokens": {}}',
        b'{"version": 1, "tokens": [{"name": "../x"}]}',
        b'{"version": 1, "tokens": [{"name": "a", "sha256": "00", "created": 1,'
        b' "expires": null, "read_only": false, "revoked": false}]}',
        b"\xff\xfe",
    ],
)
async def test_a_damaged_state_file_stops_with_its_name(
    state: Path, clock: Clock, content: bytes
) -> None:
    state.parent.mkdir(parents=True)
    state.write_bytes(content)
    state.chmod(0o600)
    with pytest.raises(StateFileError, match=r"access\.json"):
        await opened(state, clock)


def test_share_links_name_the_certificate_s_host_else_the_listen_address() -> None:
    assert share_origin(["files.example.org", "10.0.0.5"], "0.0.0.0:8443") == (
        "https://files.example.org:8443"
    )
    assert share_origin([], "192.0.2.10:9443") == "https://192.0.2.10:9443"
    assert share_origin([], "[::1]:8443") == "https://[::1]:8443"
    assert share_origin(["2001:db8::5"], "[::]:8443") == "https://[2001:db8::5]:8443"
    assert share_origin([], "0.0.0.0:8443") == f"https://{socket.gethostname()}:8443"
