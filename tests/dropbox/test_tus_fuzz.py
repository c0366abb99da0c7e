"""Requests drawn by hypothesis against the real daemon's /files/ over TLS, written as raw
bytes so no client library tidies them: any method, path and mix of the tus and download
headers with any value, with a valid token or a broken one. No answer is a 5xx, every error
is the dropbox's JSON envelope, the log holds no traceback, nothing is written outside the
dropbox's root, and every finished file is whole (its data the length and sha256 its
metadata says)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import ssl
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from autosred.config import split_listen
from tests.dropbox.tusclient import Dropbox, TokenSpec, dropbox_config, make_tokens, pinned
from tests.support.daemon import running_daemon

CASES = 250
HEADERS = (
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Defer-Length",
    "Tus-Resumable",
    "Content-Type",
    "Range",
    "If-Range",
    "X-HTTP-Method-Override",
    "Host",
)
NASTY = (
    "0", "1", "-1", "1e3", "0x10", "9" * 30, "1.0.0", "0.2.2", "application/offset+octet-stream",
    "bytes=0-1,2-3", "bytes=-0", "bytes=99999999-", "sha1 ***", "md5 kAFQmDzST7DWlj99KOF/cg==",
    "filename Li4vLi4vZXRjL3Bhc3N3ZA==", "filename AA==", "filename", "k v,k v", "PATCH", "",
    "ü", "\u202e", "evil.example/x", "%2e%2e%2f", "..\\..\\x",
)  # fmt: skip


def header_value() -> st.SearchStrategy[bytes]:
    text = st.one_of(
        st.sampled_from(NASTY),
        st.integers(min_value=-5, max_value=10**20).map(str),
        st.text(max_size=40),
    )
    # Any byte a header line can carry (not CR or LF, which would end it).
    return st.one_of(
        text.map(lambda value: value.encode("utf-8", "surrogatepass")),
        st.binary(max_size=30),
    ).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))


def drawn_requests(target: str, token: str, count: int) -> list[bytes]:
    found: list[bytes] = []
    paths = st.one_of(
        st.sampled_from(
            [
                "/files/",
                f"/files/{target}",
                "/files/" + "A" * 32,
                "/files/../../etc/passwd",
                "/files/%2e%2e%2f%2e%2e%2fetc",
                "/files/%252e%252e",
                "/files/..%5c..%5cx",
                "/files/?json",
                "/s/asds_" + "x" * 43,
            ]
        ),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_%./", max_size=40).map(
            lambda tail: "/files/" + tail
        ),
    )

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(
        method=st.sampled_from(["POST", "PATCH", "HEAD", "DELETE", "GET", "OPTIONS"]),
        path=paths,
        drawn=st.lists(st.tuples(st.sampled_from(HEADERS), header_value()), max_size=6),
        body=st.binary(max_size=3000),
        auth=st.sampled_from(["good", "good", "good", "broken", "none"]),
        valid_base=st.booleans(),
    )
    def collect(
        *,
        method: str,
        path: str,
        drawn: list[tuple[str, bytes]],
        body: bytes,
        auth: str,
        valid_base: bool,
    ) -> None:
        # Half the cases start from a valid tus request, so the drawn headers reach past the
        # first check (a drawn header replaces the base's of its name).
        base = {
            "Host": b"127.0.0.1",
            **(
                {
                    "Tus-Resumable": b"1.0.0",
                    "Upload-Length": b"5000",
                    "Upload-Offset": b"10",
                    "Content-Type": b"application/offset+octet-stream",
                }
                if valid_base
                else {}
            ),
        }
        headers = {**base, **dict(drawn)}
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Connection: close"]
        if auth != "none":
            secret = token if auth == "good" else token[:-3] + "\x00\xff"
            lines.append(b"Authorization: Bearer " + secret.encode("latin-1"))
        lines += [name.encode() + b": " + value for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}".encode())
        found.append(b"\r\n".join(lines) + b"\r\n\r\n" + body)

    collect()
    return found


def outside_the_dropbox(top: Path) -> set[str]:
    """Every path under top but the dropbox's own directory."""
    return {
        str(path.relative_to(top))
        for path in top.rglob("*")
        if not path.is_relative_to(top / "state" / "dropbox")
    }


async def exchange(box: Dropbox, raw: bytes) -> bytes:
    host, port = split_listen(box.daemon.listeners["dropbox"])
    reader, writer = await asyncio.open_connection(host, port, ssl=pinned(box.pem))
    try:
        writer.write(raw)
        await writer.drain()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            return await asyncio.wait_for(reader.read(), 30)
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def test_drawn_requests_get_no_5xx_and_leave_the_store_whole(tmp_path: Path) -> None:
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    config = dropbox_config(tmp_path, max_size=1 << 20, body_idle_timeout=5)
    async with running_daemon(tmp_path, config) as daemon:
        box = Dropbox(
            daemon=daemon,
            pem=(tmp_path / "state" / "dropbox" / "tls" / "cert.pem").read_text(),
            tokens=tokens,
        )
        async with box.client() as client:
            created = await box.create(client, "alice", 100_000, body=b"x" * 10)
            target = created.headers["Location"].rsplit("/", 1)[1]
        before = outside_the_dropbox(tmp_path)
        cases = drawn_requests(target, tokens["alice"], CASES)
        problems: list[str] = []
        statuses: dict[int, int] = {}
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for case in cases:
            queue.put_nowait(case)

        async def worker() -> None:
            while not queue.empty():
                raw = queue.get_nowait()
                answer = await exchange(box, raw)
                head, _, body = answer.partition(b"\r\n\r\n")
                line = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
                status = int(line.group(1)) if line else 0
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 500 or status == 0:
                    problems.append(f"{status} for {raw[:200]!r}: {answer[:300]!r}")
                elif status >= 400 and body and not raw.startswith(b"HEAD"):
                    if b"application/json" in head:
                        error = json.loads(body)["error"]
                        assert isinstance(error["code"], str) and error["message"], body
                    elif b"Strict-Transport-Security" not in head:
                        problems.append(f"{status} not in the envelope: {answer[:300]!r}")

        await asyncio.gather(*(worker() for _ in range(4)))
        assert not problems, problems[:10]
        assert statuses.get(201, 0) + statuses.get(204, 0) > 0, statuses  # some got through
        log = daemon.log_path.read_text()
        assert "Traceback" not in log and "dropbox.error" not in log
        assert outside_the_dropbox(tmp_path) == before
    files = tmp_path / "state" / "dropbox" / "files"
    for entry in files.iterdir():
        meta = json.loads((entry / "meta.json").read_text())
        data = (entry / "data").read_bytes()
        assert len(data) == meta["length"] and hashlib.sha256(data).hexdigest() == meta["sha256"]
