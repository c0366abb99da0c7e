"""Uploads across a killed daemon and past their expiry: kill -9 mid-PATCH, restart, HEAD for
the offset and PATCH the rest to a sha256-equal file; an expired upload answers 410."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
from pathlib import Path

import httpx

from autosred.config import split_listen
from tests.dropbox.tusclient import TUS, Dropbox, TokenSpec, dropbox_config, make_tokens, pinned
from tests.support.daemon import Daemon, metric_value, running_daemon

DEADLINE = 20.0


def dropbox_of(daemon: Daemon, tmp_path: Path, tokens: dict[str, str]) -> Dropbox:
    pem = (tmp_path / "state" / "dropbox" / "tls" / "cert.pem").read_text()
    return Dropbox(daemon=daemon, pem=pem, tokens=tokens)


async def offset_of(box: Dropbox, client: httpx.AsyncClient, upload_id: str) -> int:
    head = await client.head(f"/files/{upload_id}", headers={**TUS, **box.auth("alice")})
    assert head.status_code == 200, head.status_code
    return int(head.headers["Upload-Offset"])


async def test_kill_9_mid_upload_then_resume_to_the_same_file(tmp_path: Path) -> None:
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    config = dropbox_config(tmp_path, max_size=16 << 20)
    data = os.urandom(6 << 20)
    sent = 3 << 20
    async with running_daemon(tmp_path, config) as daemon:
        box = dropbox_of(daemon, tmp_path, tokens)
        async with box.client() as client:
            created = await box.create(client, "alice", len(data), name="killed.bin")
            upload_id = created.headers["Location"].rsplit("/", 1)[1]
            host, port = split_listen(daemon.listeners["dropbox"])
            _, writer = await asyncio.open_connection(host, port, ssl=pinned(box.pem))
            head = (
                f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {tokens['alice']}\r\nTus-Resumable: 1.0.0\r\n"
                "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
            writer.write(head + data[:sent])
            await writer.drain()
            # Mid-body: once some of it is on disk, the daemon is killed.
            async with asyncio.timeout(DEADLINE):
                while await offset_of(box, client, upload_id) == 0:
                    await asyncio.sleep(0.02)
            daemon.process.kill()
            assert await daemon.wait_exit() == -9
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.wait_closed()

    async with running_daemon(tmp_path, config) as daemon:
        box = dropbox_of(daemon, tmp_path, tokens)
        async with box.client() as client:
            offset = await offset_of(box, client, upload_id)
            assert 0 < offset <= sent
            rest = await box.patch(client, "alice", upload_id, offset, data[offset:])
            assert rest.status_code == 204, rest.text
            assert rest.headers["Upload-Offset"] == str(len(data))
            got = await client.get(f"/files/{upload_id}", headers=box.auth("alice"))
            assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
            assert got.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'


async def test_an_expired_upload_answers_410_and_is_removed(tmp_path: Path) -> None:
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice"), TokenSpec("bob")])
    config = dropbox_config(tmp_path, upload_expiry="1s")
    async with running_daemon(tmp_path, config) as daemon:
        box = dropbox_of(daemon, tmp_path, tokens)
        async with box.client() as client:
            created = await box.create(client, "alice", 10, body=b"12345")
            upload_id = created.headers["Location"].rsplit("/", 1)[1]
            finished = await box.upload(client, "alice", b"kept")
            partial_dir = tmp_path / "state" / "dropbox" / "partial" / upload_id
            assert partial_dir.is_dir()
            async with asyncio.timeout(DEADLINE):
                # Past its expiry: 410 at once, and the sweep then removes its data.
                while True:
                    head = await client.head(
                        f"/files/{upload_id}", headers={**TUS, **box.auth("alice")}
                    )
                    if head.status_code == 410:
                        break
                    assert head.status_code == 200
                    await asyncio.sleep(0.1)
                while partial_dir.exists():
                    await asyncio.sleep(0.1)
            for method, extra in (("HEAD", TUS), ("PATCH", {"Upload-Offset": "5"}), ("GET", {})):
                answer = await client.request(
                    method,
                    f"/files/{upload_id}",
                    headers={
                        **TUS,
                        **box.auth("alice"),
                        **extra,
                        "Content-Type": "application/offset+octet-stream",
                    },
                    content=b"67890" if method == "PATCH" else b"",
                )
                assert answer.status_code == 410, method
            other = await client.head(f"/files/{upload_id}", headers={**TUS, **box.auth("bob")})
            assert other.status_code == 404  # to another token it never was
            kept = await client.get(f"/files/{finished}", headers=box.auth("alice"))
            assert kept.content == b"kept"  # a finished file does not expire
        metrics = await daemon.metrics()
        assert metric_value(metrics, "autosred_dropbox_uploads_failed_total", reason="expired") == 1
