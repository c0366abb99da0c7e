"""autosrectl dropbox token and the session endpoint through the real daemon's admin socket:
the contract lines exactly, the refusals' exit statuses, what is kept on disk."""

from __future__ import annotations

import json
import re
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from autosred.admin.schema import DropboxSession, DropboxTokenList
from tests.support.ctl import autosrectl
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = re.compile(r"asdt_[A-Za-z0-9_-]{43}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("access")
    config = base_config(
        tmp_path, [sim_recipe()], dropbox={"enabled": True, "listen": "127.0.0.1:0"}
    )
    async with running_daemon(tmp_path, config) as running:
        yield running


async def ctl(daemon: Daemon, *args: str) -> tuple[int, str, str]:
    return await autosrectl("--socket", str(daemon.admin_socket), "dropbox", *args)


async def tokens(daemon: Daemon) -> dict[str, dict[str, object]]:
    code, out, err = await ctl(daemon, "token", "ls", "--json")
    assert code == 0, err
    listed = DropboxTokenList.from_json(json.loads(out))
    return {token.name: token.to_json() for token in listed.tokens}


def state_file(daemon: Daemon) -> Path:
    return daemon.config_path.parent / "state" / "dropbox" / "access.json"  # base_config's


async def test_token_create_prints_the_token_alone_on_its_line_and_keeps_only_its_hash(
    daemon: Daemon,
) -> None:
    code, out, err = await ctl(
        daemon, "token", "create", "alice", "--quota", "10G", "--max-files", "3", "--expires", "7d"
    )
    assert code == 0, err
    assert TOKEN.fullmatch(out.removesuffix("\n")) and out.count("\n") == 1
    token = out.strip()
    listed = (await tokens(daemon))["alice"]
    assert listed["state"] == "active" and listed["read_only"] is False
    assert listed["max_bytes"] == 10 << 30 and listed["max_files"] == 3
    assert listed["expires"] == pytest.approx(listed["created"] + 7 * 86400)  # type: ignore[operator]
    kept = state_file(daemon)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert token not in kept.read_text()
    code, out, err = await ctl(daemon, "token", "create", "alice")
    assert (code, out) == (1, "") and "exists" in err


async def test_token_ls_shows_no_secret_and_revoke_takes_effect(daemon: Daemon) -> None:
    code, token, err = await ctl(daemon, "token", "create", "bob", "--read-only")
    assert code == 0, err
    code, out, err = await ctl(daemon, "token", "ls")
    assert code == 0, err
    assert token.strip() not in out
    assert re.search(r"^bob\s+active\s+read-only\s", out, re.MULTILINE), out
    assert await ctl(daemon, "token", "revoke", "bob") == (0, "revoked bob\n", "")
    assert (await tokens(daemon))["bob"]["state"] == "revoked"
    code, _, err = await ctl(daemon, "token", "revoke", "bob")
    assert code == 1 and "no active token" in err
    # The name gets a new token; the revoked one stays listed as revoked.
    code, fresh, err = await ctl(daemon, "token", "create", "bob")
    assert code == 0 and fresh != token, err


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["token", "create", "../etc"], 1, "not a token name"),
        (["token", "create", "@autosrectl"], 1, "not a token name"),
        (["token", "create", "x", "--quota", "10X"], 2, "not a size"),
        (["token", "create", "x", "--quota", "1.5G"], 2, "not a size"),
        (["token", "create", "x", "--quota", "-1"], 2, "--quota"),
        (["token", "create", "x", "--expires", "7"], 2, "not a duration"),
        (["token", "create", "x", "--expires", "0h"], 2, "not a duration"),
        (["token", "create", "x", "--max-files", "0"], 2, "from 1"),
        (["token", "revoke", "nobody"], 1, "no active token"),
    ],
)
async def test_bad_input_is_refused_with_its_reason(
    daemon: Daemon, args: list[str], status: int, says: str
) -> None:
    code, out, err = await ctl(daemon, *args)
    assert (code, out) == (status, "") and says in err, err
    assert "x" not in await tokens(daemon)


async def test_the_session_gives_autosrectl_the_listener_certificate_and_a_fresh_token(
    daemon: Daemon,
) -> None:
    code, body = await daemon.admin("POST", "/v1/dropbox/session", {})
    assert code == 200, body
    session = DropboxSession.from_json(body)
    assert session.url == f"https://{daemon.listeners['dropbox']}"
    code, cert = await daemon.admin("GET", "/v1/dropbox/cert")
    assert (session.fingerprint, session.pem) == (cert["fingerprint"], cert["pem"])
    assert TOKEN.fullmatch(session.token)
    kept = [
        path.read_bytes() for path in state_file(daemon).parent.parent.rglob("*") if path.is_file()
    ]
    assert not any(session.token.encode() in content for content in kept)  # memory only
    code, again = await daemon.admin("POST", "/v1/dropbox/session", {})
    assert again["token"] != session.token


async def test_a_bad_request_body_is_a_400_in_the_admin_envelope(daemon: Daemon) -> None:
    code, body = await daemon.admin("POST", "/v1/dropbox/tokens", {"name": 7})
    assert code == 400 and body["error"]["type"] == "bad_request", body
    code, body = await daemon.admin("POST", "/v1/dropbox/tokens", {"name": "q", "max_bytes": 0})
    assert code == 400 and "max_bytes" in body["error"]["message"], body


async def test_tokens_and_revocations_outlive_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp_path = tmp_path_factory.mktemp("restart")
    config = base_config(
        tmp_path, [sim_recipe()], dropbox={"enabled": True, "listen": "127.0.0.1:0"}
    )
    async with running_daemon(tmp_path, config) as first:
        _, kept, _ = await ctl(first, "token", "create", "kept")
        _, gone, _ = await ctl(first, "token", "create", "gone")
        assert (await ctl(first, "token", "revoke", "gone"))[0] == 0
        first.process.kill()
        await first.process.wait()  # no clean shutdown: what counted was already on disk
    async with running_daemon(tmp_path, config) as second:
        states = {name: token["state"] for name, token in (await tokens(second)).items()}
        assert states == {"kept": "active", "gone": "revoked"}
        code, cert = await second.admin("GET", "/v1/dropbox/cert")
        assert code == 200, cert
        context = ssl.create_default_context(cadata=cert["pem"])
        async with httpx.AsyncClient(verify=context) as client:
            url = f"https://{second.listeners['dropbox']}/files/"
            for token, status in ((kept, 200), (gone, 401)):
                answer = await client.get(url, headers={"Authorization": f"Bearer {token.strip()}"})
                assert answer.status_code == status, answer.text
