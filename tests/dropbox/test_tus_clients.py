"""A real tus client library (tuspy, the tus project's Python client) against the real
daemon over TLS, trusting only the daemon's certificate: uploads in chunks with sha1 and
sha256 checksums, and an upload stopped halfway that a second run resumes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.dropbox.tusclient import Dropbox, TokenSpec, dropbox_config, make_tokens
from tests.support.daemon import running_daemon

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Dropbox]:
    tmp_path = tmp_path_factory.mktemp("tuspy")
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    async with running_daemon(tmp_path, dropbox_config(tmp_path, max_size=16 << 20)) as daemon:
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
