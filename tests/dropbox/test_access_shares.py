"""Tokens, share links and the admin's file commands against the real daemon's dropbox over
TLS: autosrectl dropbox ls|share|rm, a one-download link fetched by 20 clients at once, links
that expire or lose their file, revoked and expired tokens, the failed-auth limit."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from tests.support.ctl import autosrectl
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio(loop_scope="module")

TUS = {"Tus-Resumable": "1.0.0"}
DEADLINE = 15.0
SHARE_URL = re.compile(r"https://127\.0\.0\.1:(\d+)/s/(asds_[A-Za-z0-9_-]{43})")


@dataclass
class Box:
    daemon: Daemon
    context: ssl.SSLContext

    @property
    def url(self) -> str:
        return f"https://{self.daemon.listeners['dropbox']}"

    def client(self, *, source: str = "127.0.0.1") -> httpx.AsyncClient:
        """A client trusting exactly the daemon's certificate, from `source` (another
        loopback address is another peer to the failed-auth limit)."""
        transport = httpx.AsyncHTTPTransport(verify=self.context, local_address=source)
        return httpx.AsyncClient(transport=transport, timeout=DEADLINE)

    async def ctl(self, *args: str) -> tuple[int, str, str]:
        return await autosrectl("--socket", str(self.daemon.admin_socket), "dropbox", *args)

    async def token(self, name: str, *options: str) -> str:
        code, out, err = await self.ctl("token", "create", name, *options)
        assert code == 0, err
        return out.strip()

    async def upload(self, token: str, name: str, data: bytes) -> str:
        """One tus creation-with-upload; the new file's id."""
        headers = {
            **TUS,
            "Authorization": f"Bearer {token}",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": f"filename {base64.b64encode(name.encode()).decode()}",
            "Content-Type": "application/offset+octet-stream",
        }
        async with self.client() as client:
            response = await client.post(f"{self.url}/files/", headers=headers, content=data)
        assert response.status_code == 201, response.text
        assert response.headers["Upload-Offset"] == str(len(data))
        return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    async def files(self) -> dict[str, dict[str, object]]:
        code, out, err = await self.ctl("ls", "--json")
        assert code == 0, err
        return {entry["id"]: entry for entry in json.loads(out)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Box]:
    tmp_path = tmp_path_factory.mktemp("shares")
    config = base_config(
        tmp_path, [sim_recipe()], dropbox={"enabled": True, "listen": "127.0.0.1:0"}
    )
    async with running_daemon(tmp_path, config) as daemon:
        code, cert = await daemon.admin("GET", "/v1/dropbox/cert")
        assert code == 200, cert
        context = ssl.create_default_context(cadata=cert["pem"])
        yield Box(daemon=daemon, context=context)


async def until(condition: object, what: str) -> None:
    """Poll an async condition until it holds (the daemon's clock is real)."""
    deadline = time.monotonic() + DEADLINE
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {DEADLINE} s"
        await asyncio.sleep(0.1)


async def test_ls_lists_every_owner_with_the_contract_keys(box: Box) -> None:
    alice = await box.token("ls-alice")
    bob = await box.token("ls-bob")
    first = await box.upload(alice, "report.pdf", b"alice's")
    second = await box.upload(bob, "notes.txt", b"bob's notes")
    listed = await box.files()
    assert listed[first] == {
        "id": first,
        "name": "report.pdf",
        "size": 7,
        "sha256": hashlib.sha256(b"alice's").hexdigest(),
        "complete": True,
        "owner": "ls-alice",
    }
    assert {"id", "name", "size", "sha256", "complete"} <= set(listed[second])
    assert listed[second]["owner"] == "ls-bob"
    code, out, err = await box.ctl("ls")
    assert code == 0 and first in out and "report.pdf" in out and "ls-bob" in out, err


async def test_twenty_parallel_downloads_of_a_one_download_link_give_exactly_one_file(
    box: Box,
) -> None:
    token = await box.token("share-once")
    data = b"only once\n" * 1000
    file_id = await box.upload(token, "once.txt", data)
    code, out, err = await box.ctl("share", file_id, "--max-downloads", "1")
    assert code == 0, err
    match = SHARE_URL.fullmatch(out.removesuffix("\n"))
    assert match and out.count("\n") == 1, out  # the URL alone on its line
    assert box.url.endswith(f":{match.group(1)}")
    async with box.client() as client:
        answers = await asyncio.gather(*(client.get(out.strip()) for _ in range(20)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [410] * 19, statuses  # the rest: Gone, used up
    (served,) = [answer for answer in answers if answer.status_code == 200]
    assert served.content == data
    assert served.headers["Content-Disposition"].startswith("attachment")


async def test_a_share_works_without_a_token_until_it_expires(box: Box) -> None:
    token = await box.token("share-expiry")
    file_id = await box.upload(token, "soon.txt", b"soon gone")
    code, out, err = await box.ctl("share", file_id, "--expires", "2s")
    assert code == 0, err
    async with box.client() as client:
        first = await client.get(out.strip())
        assert (first.status_code, first.content) == (200, b"soon gone")

        async def expired() -> bool:
            return (await client.get(out.strip())).status_code == 410

        await until(expired, "the link expires")


async def test_rm_removes_a_file_and_its_links_stop_working(box: Box) -> None:
    token = await box.token("rm-owner")
    file_id = await box.upload(token, "gone.txt", b"to be removed")
    code, url, err = await box.ctl("share", file_id)
    assert code == 0, err
    assert await box.ctl("rm", file_id) == (0, f"removed {file_id}\n", "")
    assert file_id not in await box.files()
    async with box.client() as client:
        assert (await client.get(url.strip())).status_code == 404
        mine = await client.get(
            f"{box.url}/files/{file_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert mine.status_code == 404
    code, out, err = await box.ctl("rm", file_id)
    assert (code, out) == (1, "") and "no file or upload" in err
    code, out, err = await box.ctl("share", file_id)
    assert (code, out) == (1, "") and "no finished file" in err
    code, out, err = await box.ctl("share", "../../etc/passwd")
    assert (code, out) == (1, "") and "no finished file" in err


async def test_revoked_and_expired_tokens_are_refused_at_once(box: Box) -> None:
    revoked = await box.token("soon-revoked")
    short = await box.token("short-lived", "--expires", "2s")
    async with box.client(source="127.0.0.3") as client:

        async def status(token: str) -> int:
            answer = await client.get(
                f"{box.url}/files/", headers={"Authorization": f"Bearer {token}"}
            )
            return answer.status_code

        assert await status(revoked) == 200
        assert (await box.ctl("token", "revoke", "soon-revoked"))[0] == 0
        assert await status(revoked) == 401

        async def expired() -> bool:
            return await status(short) == 401

        await until(expired, "the token expires")


async def test_guessing_tokens_from_one_address_is_limited_and_others_are_served(
    box: Box,
) -> None:
    token = await box.token("limited")
    guess = {"Authorization": "Bearer asdt_" + "A" * 43}
    good = {"Authorization": f"Bearer {token}"}
    async with box.client(source="127.0.0.2") as guesser, box.client() as other:
        statuses = [
            (await guesser.get(f"{box.url}/files/", headers=guess)).status_code for _ in range(10)
        ]
        assert statuses == [401] * 10
        limited = await guesser.get(f"{box.url}/files/", headers=good)
        assert limited.status_code == 429, limited.text
        assert (await other.get(f"{box.url}/files/", headers=good)).status_code == 200


async def test_a_token_s_quota_from_the_cli_holds_at_the_tus_layer(box: Box) -> None:
    token = await box.token("quota", "--quota", "1K", "--max-files", "2")
    headers = {**TUS, "Authorization": f"Bearer {token}"}
    async with box.client() as client:
        over = await client.post(f"{box.url}/files/", headers={**headers, "Upload-Length": "1025"})
        assert over.status_code == 413, over.text  # the byte quota
    await box.upload(token, "a.txt", b"a" * 600)
    async with box.client() as client:
        rest = await client.post(f"{box.url}/files/", headers={**headers, "Upload-Length": "425"})
        assert rest.status_code == 413, rest.text  # 600 + 425 > 1024
    await box.upload(token, "b.txt", b"b" * 424)
    async with box.client() as client:
        third = await client.post(f"{box.url}/files/", headers={**headers, "Upload-Length": "0"})
        assert third.status_code == 507, third.text  # the file quota


async def test_a_read_only_token_lists_and_downloads_but_never_writes(box: Box) -> None:
    writer = await box.token("ro-writer")
    reader = await box.token("ro-reader", "--read-only")
    await box.upload(writer, "theirs.txt", b"not the reader's")
    headers = {**TUS, "Authorization": f"Bearer {reader}", "Upload-Length": "1"}
    async with box.client() as client:
        assert (await client.post(f"{box.url}/files/", headers=headers)).status_code == 403
        listing = await client.get(f"{box.url}/files/", headers=headers)
        assert (listing.status_code, listing.json()) == (200, [])  # sees its own only
