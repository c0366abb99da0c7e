"""The dropbox seen from outside while an upload is held open mid-body: the admin's token and
share calls, a SIGHUP certificate reload, a config reload that turns the dropbox off or on,
and SIGTERM, each meeting the upload in flight."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from autosred.config import split_listen
from tests.dropbox.certs import der_fingerprint, make_pair
from tests.dropbox.tusclient import TUS, Dropbox, TokenSpec, dropbox_config, make_tokens, pinned
from tests.support.ctl import autosrectl
from tests.support.daemon import Daemon, running_daemon

DEADLINE = 20.0
SIZE = 6 << 20
SENT = 3 << 20


@dataclass
class HeldUpload:
    """A PATCH whose head and first SENT bytes went out on their own TLS connection; the
    rest is still to come."""

    upload_id: str
    data: bytes
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def finish(self) -> bytes:
        """Send the rest of the body; the answer's head."""
        self.writer.write(self.data[SENT:])
        await self.writer.drain()
        async with asyncio.timeout(DEADLINE):
            return await self.reader.readuntil(b"\r\n\r\n")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError):
            async with asyncio.timeout(5):
                await self.writer.wait_closed()


async def offset_of(box: Dropbox, client: httpx.AsyncClient, upload_id: str) -> int:
    head = await client.head(f"/files/{upload_id}", headers={**TUS, **box.auth("alice")})
    assert head.status_code == 200, head.status_code
    return int(head.headers["Upload-Offset"])


@contextlib.asynccontextmanager
async def held_upload(
    box: Dropbox, client: httpx.AsyncClient, context: ssl.SSLContext | None = None
) -> AsyncIterator[HeldUpload]:
    data = os.urandom(SIZE)
    created = await box.create(client, "alice", len(data), name="held.bin")
    assert created.status_code == 201, created.text
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    host, port = split_listen(box.daemon.listeners["dropbox"])
    reader, writer = await asyncio.open_connection(host, port, ssl=context or pinned(box.pem))
    head = (
        f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {box.tokens['alice']}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    writer.write(head + data[:SENT])
    await writer.drain()
    held = HeldUpload(upload_id=upload_id, data=data, reader=reader, writer=writer)
    try:
        # In flight: the store has written some of it (the rest of the test runs meanwhile).
        async with asyncio.timeout(DEADLINE):
            while await offset_of(box, client, upload_id) == 0:
                await asyncio.sleep(0.02)
        yield held
    finally:
        await held.close()


async def box_of(daemon: Daemon, tokens: dict[str, str]) -> Dropbox:
    code, pem, err = await autosrectl(
        "--socket", str(daemon.admin_socket), "dropbox", "cert", "--pem"
    )
    assert code == 0, err
    return Dropbox(daemon=daemon, pem=pem, tokens=tokens)


async def ctl(daemon: Daemon, *args: str) -> str:
    code, out, err = await autosrectl("--socket", str(daemon.admin_socket), "dropbox", *args)
    assert code == 0, err
    return out


async def finished_sha256(box: Dropbox, client: httpx.AsyncClient, upload_id: str) -> str:
    got = await client.get(f"/files/{upload_id}", headers=box.auth("alice"))
    assert got.status_code == 200, got.status_code
    return hashlib.sha256(got.content).hexdigest()


def config_of(tmp_path: Path, **dropbox: Any) -> dict[str, Any]:
    # A held body must outlast the test's other steps on a loaded machine.
    return dropbox_config(tmp_path, max_size=16 << 20, body_idle_timeout="60s", **dropbox)


async def test_admin_tokens_and_shares_work_while_an_upload_runs(tmp_path: Path) -> None:
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    async with running_daemon(tmp_path, config_of(tmp_path)) as daemon:
        box = await box_of(daemon, tokens)
        async with box.client() as client:
            shared_id = await box.upload(client, "alice", b"shared while uploading")
            async with held_upload(box, client) as held:
                bob = (await ctl(daemon, "token", "create", "bob")).strip()
                listed = {
                    t["name"]: t
                    for t in json.loads(await ctl(daemon, "token", "ls", "--json"))["tokens"]
                }
                assert listed["bob"]["state"] == "active"
                mine = await client.get("/files/?json", headers={"Authorization": f"Bearer {bob}"})
                assert mine.status_code == 200 and mine.json() == []
                await ctl(daemon, "token", "revoke", "bob")
                gone = await client.get("/files/?json", headers={"Authorization": f"Bearer {bob}"})
                assert gone.status_code == 401
                url = (await ctl(daemon, "share", shared_id, "--max-downloads", "1")).strip()
                path = "/" + url.split("/", 3)[3]
                first = await client.get(path)
                assert first.status_code == 200 and first.content == b"shared while uploading"
                assert (await client.get(path)).status_code == 410  # used up
                files = {f["id"]: f for f in json.loads(await ctl(daemon, "ls", "--json"))}
                assert files[held.upload_id]["complete"] is False
                answer = await held.finish()
                assert answer.startswith(b"HTTP/1.1 204 "), answer
            assert (
                await finished_sha256(box, client, held.upload_id)
                == hashlib.sha256(held.data).hexdigest()
            )


async def test_sighup_reloads_the_certificate_while_an_upload_runs(tmp_path: Path) -> None:
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    pair, _, _ = make_pair(tmp_path, "server")
    config = config_of(tmp_path, tls={"cert": str(pair.cert), "key": str(pair.key)})
    async with running_daemon(tmp_path, config) as daemon:
        box = await box_of(daemon, tokens)
        first_pem = box.pem
        async with box.client() as client:
            async with held_upload(box, client) as held:
                make_pair(tmp_path, "server")  # a new key and certificate in the same files
                seen = len(daemon.notify.lines())
                daemon.signal(signal.SIGHUP)
                seen = await daemon.notify.wait_for("RELOADING=1", after=seen)
                await daemon.notify.wait_for("READY=1", after=seen)
                # New handshakes get the new certificate; the held connection keeps going.
                host, port = split_listen(daemon.listeners["dropbox"])
                _, writer = await asyncio.open_connection(
                    host, port, ssl=pinned(pair.cert.read_text())
                )
                der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
                writer.close()
                assert der_fingerprint(der) == pair.fingerprint()
                assert pair.cert.read_text() != first_pem
                answer = await held.finish()
                assert answer.startswith(b"HTTP/1.1 204 "), answer
        fresh = Dropbox(daemon=daemon, pem=pair.cert.read_text(), tokens=tokens)
        async with fresh.client() as client:
            assert (
                await finished_sha256(fresh, client, held.upload_id)
                == hashlib.sha256(held.data).hexdigest()
            )


async def test_sigterm_with_an_upload_in_flight_leaves_it_resumable(tmp_path: Path) -> None:
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    config = config_of(tmp_path)
    config["shutdown"] = {"grace": "1s"}
    async with running_daemon(tmp_path, config) as daemon:
        box = await box_of(daemon, tokens)
        async with box.client() as client:
            async with held_upload(box, client) as held:
                daemon.signal(signal.SIGTERM)
                assert await daemon.wait_exit() == 0
        stopped = daemon.events_named("daemon.stopped")
        assert stopped, daemon.log_path.read_text()
    async with running_daemon(tmp_path, config) as daemon:
        box = await box_of(daemon, tokens)
        async with box.client() as client:
            offset = await offset_of(box, client, held.upload_id)
            assert 0 < offset <= SENT
            rest = await box.patch(client, "alice", held.upload_id, offset, held.data[offset:])
            assert rest.status_code == 204, rest.text
            assert (
                await finished_sha256(box, client, held.upload_id)
                == hashlib.sha256(held.data).hexdigest()
            )


async def reload(daemon: Daemon) -> dict[str, Any]:
    code, body = await daemon.admin("POST", "/v1/reload")
    assert code == 200, body
    assert isinstance(body, dict)
    return body


async def test_a_reload_turning_the_dropbox_off_needs_a_restart_and_it_keeps_serving(
    tmp_path: Path,
) -> None:
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    config = config_of(tmp_path)
    async with running_daemon(tmp_path, config) as daemon:
        box = await box_of(daemon, tokens)
        async with box.client() as client:
            async with held_upload(box, client) as held:
                off = {**config, "dropbox": {**config["dropbox"], "enabled": False}}
                daemon.config_path.write_text(yaml.safe_dump(off))
                result = await reload(daemon)
                assert result["ok"] is True
                assert any("dropbox" in message for message in result["messages"]), result
                answer = await held.finish()
                assert answer.startswith(b"HTTP/1.1 204 "), answer
            assert (await client.get("/healthz")).status_code == 200
            assert "dropbox" in (await daemon.status())["listeners"]


async def test_a_reload_turning_the_dropbox_on_needs_a_restart(tmp_path: Path) -> None:
    on = config_of(tmp_path)
    off = {**on, "dropbox": {**on["dropbox"], "enabled": False}}
    async with running_daemon(tmp_path, off) as daemon:
        daemon.config_path.write_text(yaml.safe_dump(on))
        result = await reload(daemon)
        assert result["ok"] is True
        assert any("dropbox" in message for message in result["messages"]), result
        assert "dropbox" not in (await daemon.status())["listeners"]
        code, out, err = await autosrectl("--socket", str(daemon.admin_socket), "dropbox", "cert")
        assert (code, out) == (1, "") and "dropbox is not enabled" in err
