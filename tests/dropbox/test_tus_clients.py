"""A real tus client library (tuspy, the tus project's Python client) against the real
daemon over TLS, trusting only the daemon's certificate: uploads in chunks with sha1 and
sha256 checksums, and an upload stopped halfway that a second run resumes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from autosred.config import split_listen
from tests.dropbox.tusclient import Dropbox, TokenSpec, dropbox_config, make_tokens, pinned
from tests.support.daemon import running_daemon

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_SIZE = 16 << 20
IDLE = 3.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Dropbox]:
    tmp_path = tmp_path_factory.mktemp("tuspy")
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    config = dropbox_config(tmp_path, max_size=MAX_SIZE, body_idle_timeout=IDLE)
    async with running_daemon(tmp_path, config) as daemon:
        pem = (tmp_path / "state" / "dropbox" / "tls" / "cert.pem").read_text()
        yield Dropbox(daemon=daemon, pem=pem, tokens=tokens)


async def tuspy(box: Dropbox, tmp_path: Path, *args: str) -> tuple[str, int]:
    """Run the tuspy uploader in its own process; its upload URL and final offset."""
    ca = tmp_path / "dropbox-ca.pem"
    ca.write_text(box.pem)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.dropbox.tuspyrun",
        f"{box.url}/files/",
        box.tokens["alice"],
        *args,
        env={**os.environ, "REQUESTS_CA_BUNDLE": str(ca)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    url, offset = out.decode().split()
    return url, int(offset)


async def downloaded(box: Dropbox, url: str) -> bytes:
    async with box.client() as client:
        got = await client.get(url, headers=box.auth("alice"))
        assert got.status_code == 200, got.text
        assert got.headers["ETag"] == f'"{hashlib.sha256(got.content).hexdigest()}"'
        return got.content


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_tuspy_uploads_in_checksummed_chunks(
    box: Dropbox, tmp_path: Path, algorithm: str
) -> None:
    source = tmp_path / f"data-{algorithm}.bin"
    data = os.urandom(3 * (1 << 20) + 12345)
    source.write_bytes(data)
    url, offset = await tuspy(
        box, tmp_path, str(source), "--algorithm", algorithm, "--chunk", str(512 * 1024)
    )
    assert url.startswith(f"{box.url}/files/")
    assert offset == len(data)
    assert await downloaded(box, url) == data
    async with box.client() as client:
        listing = (await client.get("/files/?json", headers=box.auth("alice"))).json()
    entry = next(entry for entry in listing if url.endswith(entry["id"]))
    assert entry["name"] == source.name
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["complete"]


async def test_tuspy_resumes_an_upload_stopped_halfway(box: Dropbox, tmp_path: Path) -> None:
    source = tmp_path / "resumed.bin"
    data = os.urandom(2 << 20)
    source.write_bytes(data)
    chunk = str(256 * 1024)
    url, offset = await tuspy(box, tmp_path, str(source), "--chunk", chunk, "--stop-at", "1048576")
    assert offset == 1 << 20
    # A second run given the URL asks the server for the offset (HEAD) and goes on from it.
    again, final = await tuspy(box, tmp_path, str(source), "--chunk", chunk, "--resume", url)
    assert again == url and final == len(data)
    assert await downloaded(box, url) == data


async def curl(*args: str, stdin: bytes | None = None) -> bytes:
    found = shutil.which("curl")
    assert found is not None, "curl is needed: apt-get install curl"
    process = await asyncio.create_subprocess_exec(
        found,
        "--silent",
        "--show-error",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode == 0, err.decode()
    return out


def header(head: bytes, name: str) -> str:
    match = re.search(rb"(?im)^" + name.encode() + rb":\s*(\S+)\s*$", head)
    assert match is not None, head
    return match.group(1).decode()


async def test_curl_as_the_readme_shows(box: Dropbox, tmp_path: Path) -> None:
    """The README's curl lines: a creation-with-upload cut short, HEAD for the offset, the
    rest by PATCH from stdin, a download resumed with -C -, and the listing."""
    pem = tmp_path / "dropbox.pem"
    pem.write_text(box.pem)
    data = os.urandom(700_000)
    start = tmp_path / "start.bin"
    start.write_bytes(data[:250_000])
    auth = f"Authorization: Bearer {box.tokens['alice']}"
    tus = "Tus-Resumable: 1.0.0"
    stream = "Content-Type: application/offset+octet-stream"
    created = await curl(
        "--cacert", str(pem), "-i", f"{box.url}/files/", "-H", auth, "-H", tus,
        "-H", f"Upload-Length: {len(data)}",
        "-H", f"Upload-Metadata: filename {base64.b64encode(b'data.tar').decode()}",
        "-H", stream, "--data-binary", f"@{start}",
    )  # fmt: skip
    assert created.startswith(b"HTTP/1.1 201 ")
    location = header(created, "Location")
    head = await curl("--cacert", str(pem), "-I", location, "-H", auth, "-H", tus)
    offset = int(header(head, "Upload-Offset"))
    assert offset == 250_000
    await curl(
        "--cacert", str(pem), "-X", "PATCH", location, "-H", auth, "-H", tus,
        "-H", f"Upload-Offset: {offset}", "-H", stream, "--data-binary", "@-",
        stdin=data[offset:],
    )  # fmt: skip
    target = tmp_path / "data.tar"
    target.write_bytes(data[:100_000])  # a download that stopped early
    await curl("--cacert", str(pem), "-H", auth, "-C", "-", "-o", str(target), location)
    assert target.read_bytes() == data
    listing = json.loads(await curl("--cacert", str(pem), "-H", auth, f"{box.url}/files/?json"))
    assert {
        "id": location.rsplit("/", 1)[1],
        "name": "data.tar",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "complete": True,
    } in listing


async def test_a_reader_that_stops_taking_is_cut_and_blocks_no_one(
    box: Dropbox, tmp_path: Path
) -> None:
    data = os.urandom(MAX_SIZE)
    async with box.client() as client:
        file_id = await box.upload(client, "alice", data)
    # A client whose socket takes almost nothing: the daemon's writes wait on it.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = split_listen(box.daemon.listeners["dropbox"])
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (host, port))
    reader, writer = await asyncio.open_connection(
        sock=raw, ssl=pinned(box.pem), server_hostname=host
    )
    try:
        writer.write(
            f"GET /files/{file_id} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {box.tokens['alice']}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200 ")
        # Meanwhile the daemon answers others at once: the stalled download holds no one.
        async with box.client() as client:
            for _ in range(3):
                assert (await client.get("/healthz")).status_code == 200
        async with asyncio.timeout(IDLE + 20):
            while not [
                event
                for event in box.daemon.events_named("dropbox.download")
                if event.get("id") == file_id and event.get("outcome") == "stalled"
            ]:
                await asyncio.sleep(0.1)
        received = 0
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
                received += len(chunk)
        assert received < len(data)  # cut, never passed off as the whole file
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
    # The cut came while the next piece was being read from the disk: it waited for that
    # read, and the file downloads whole afterwards.
    async with box.client() as client:
        again = await client.get(f"/files/{file_id}", headers=box.auth("alice"))
    assert again.status_code == 200 and again.content == data
