"""tus 1.0.0 at /files/ and the downloads, over real TLS to the real daemon: every status code
the protocol and HTTP prescribe, with an httpx client that trusts only the daemon's PEM."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from autosred.config import split_listen
from autosred.dropbox.storage import Quota
from tests.dropbox.tusclient import (
    STREAM,
    TUS,
    Dropbox,
    TokenSpec,
    digest,
    dropbox_config,
    make_tokens,
    metadata,
    pinned,
)
from tests.support.ctl import autosrectl
from tests.support.daemon import metric_value, running_daemon

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_SIZE = 4 << 20
IDLE = 2.5


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Dropbox]:
    tmp_path = tmp_path_factory.mktemp("tus")
    tokens = await make_tokens(
        tmp_path / "state",
        [
            TokenSpec("alice"),
            TokenSpec("bob"),
            TokenSpec("reader", read_only=True),
            TokenSpec("small", quota=Quota(max_bytes=100, max_files=2)),
        ],
    )
    config = dropbox_config(tmp_path, max_size=MAX_SIZE, body_idle_timeout=IDLE)
    async with running_daemon(tmp_path, config) as daemon:
        pem = (tmp_path / "state" / "dropbox" / "tls" / "cert.pem").read_text()
        yield Dropbox(daemon=daemon, pem=pem, tokens=tokens)


@pytest_asyncio.fixture(loop_scope="module")
async def client(box: Dropbox) -> AsyncIterator[httpx.AsyncClient]:
    async with box.client() as opened:
        yield opened


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def upload_id_of(response: httpx.Response) -> str:
    return response.headers["Location"].rsplit("/", 1)[1]


# -- discovery and creation ------------------------------------------------------------------


async def test_options_says_what_the_server_speaks(box: Dropbox, client: httpx.AsyncClient) -> None:
    answer = await client.options("/files/", headers=box.auth("alice"))
    assert answer.status_code == 204
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert answer.headers["Tus-Extension"] == (
        "creation,creation-with-upload,expiration,checksum,termination"
    )
    assert answer.headers["Tus-Max-Size"] == str(MAX_SIZE)
    assert answer.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_an_upload_in_chunks_with_checksums_becomes_a_file(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    data = os.urandom(300_000)
    created = await box.create(client, "alice", len(data), name="chunks.bin")
    assert created.status_code == 201, created.text
    host, port = split_listen(box.daemon.listeners["dropbox"])
    upload_id = upload_id_of(created)
    assert created.headers["Location"] == f"https://{host}:{port}/files/{upload_id}"
    assert created.headers["Upload-Offset"] == "0"
    assert re.fullmatch(
        r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", created.headers["Upload-Expires"]
    )
    assert created.headers["Tus-Resumable"] == "1.0.0"

    first, second = data[:100_000], data[100_000:]
    one = await box.patch(
        client, "alice", upload_id, 0, first, extra={"Upload-Checksum": digest("sha1", first)}
    )
    assert one.status_code == 204, one.text
    assert one.headers["Upload-Offset"] == "100000"
    assert "Upload-Expires" in one.headers

    head = await client.head(f"/files/{upload_id}", headers={**TUS, **box.auth("alice")})
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "100000"
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-Metadata"] == metadata(filename="chunks.bin")

    two = await box.patch(
        client,
        "alice",
        upload_id,
        100_000,
        second,
        extra={"Upload-Checksum": digest("sha256", second)},
    )
    assert two.status_code == 204, two.text
    assert two.headers["Upload-Offset"] == str(len(data))
    assert "Upload-Expires" not in two.headers  # a finished file does not expire

    got = await client.get(f"/files/{upload_id}", headers=box.auth("alice"))
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    # A PATCH of nothing at the end of a finished upload is answered, not refused.
    again = await box.patch(client, "alice", upload_id, len(data), b"")
    assert again.status_code == 204 and again.headers["Upload-Offset"] == str(len(data))


async def test_creation_with_upload_takes_the_first_chunk(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    created = await box.create(
        client,
        "alice",
        10,
        body=b"hello",
        extra={"Upload-Checksum": digest("sha256", b"hello")},
    )
    assert created.status_code == 201, created.text
    assert created.headers["Upload-Offset"] == "5"
    upload_id = upload_id_of(created)
    rest = await box.patch(client, "alice", upload_id, 5, b"world")
    assert rest.headers["Upload-Offset"] == "10"
    got = await client.get(f"/files/{upload_id}", headers=box.auth("alice"))
    assert got.content == b"helloworld"
    # An empty file is finished at its creation.
    empty = await box.create(client, "alice", 0)
    assert empty.status_code == 201 and empty.headers["Upload-Offset"] == "0"
    assert "Upload-Expires" not in empty.headers


async def test_creation_refusals(box: Dropbox, client: httpx.AsyncClient) -> None:
    auth = box.auth("alice")
    over = await box.create(client, "alice", MAX_SIZE + 1)
    assert over.status_code == 413 and error_code(over) == "too_large"
    missing = await client.post("/files/", headers={**TUS, **auth})
    assert missing.status_code == 400 and "Upload-Length" in missing.text
    deferred = await client.post("/files/", headers={**TUS, **auth, "Upload-Defer-Length": "1"})
    assert deferred.status_code == 400
    no_version = await client.post("/files/", headers={**auth, "Upload-Length": "1"})
    assert no_version.status_code == 412 and no_version.headers["Tus-Version"] == "1.0.0"
    override = await box.create(client, "alice", 5, extra={"X-HTTP-Method-Override": "PATCH"})
    assert override.status_code == 400 and "X-HTTP-Method-Override" in override.text
    upload_id = upload_id_of(await box.create(client, "alice", 5))
    as_delete = await box.patch(
        client, "alice", upload_id, 0, b"abc", extra={"X-HTTP-Method-Override": "DELETE"}
    )
    assert as_delete.status_code == 400
    head = await client.head(f"/files/{upload_id}", headers={**TUS, **auth})
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0"  # untouched
    for bad in ("filename", "filename a b", "filename !!!", "k a,k b"):
        answer = await box.create(client, "alice", 5, extra={"Upload-Metadata": bad})
        assert answer.status_code == 400, bad
    for name in ("a/b", "..", "nul\x00name", "cr\r\nSet-Cookie: x", "", "x" * 256):
        answer = await box.create(client, "alice", 5, name=name)
        assert answer.status_code == 400, name
    body_typed = await client.post(
        "/files/",
        headers={**TUS, **auth, "Upload-Length": "5", "Content-Type": "text/plain"},
        content=b"hello",
    )
    assert body_typed.status_code == 415
    longer = await box.create(client, "alice", 3, body=b"hello")
    assert longer.status_code == 413
    # None of the refusals above left an upload behind.
    listing = (await client.get("/files/?json", headers=auth)).json()
    sizes = [entry["size"] for entry in listing if entry["id"] != upload_id]
    assert 5 not in sizes and 3 not in sizes, listing


@pytest.mark.parametrize(
    "value", [b"-1", b"1e3", b"0x10", b"1" * 30, b"+5", b"1 2", b"5.0", "\u0663".encode()]
)
async def test_numbers_are_plain_decimal_digits(
    box: Dropbox, client: httpx.AsyncClient, value: bytes
) -> None:
    created = await box.create(client, "alice", 10)
    upload_id = upload_id_of(created)
    common = [(k.encode(), v.encode()) for k, v in {**TUS, **box.auth("alice")}.items()]
    length = await client.post("/files/", headers=[*common, (b"Upload-Length", value)])
    assert length.status_code == 400, value
    stream = (b"Content-Type", STREAM["Content-Type"].encode())
    offset = await client.patch(
        f"/files/{upload_id}",
        headers=[*common, stream, (b"Upload-Offset", value)],
        content=b"x",
    )
    assert offset.status_code == 400, value
    head = await client.head(f"/files/{upload_id}", headers={**TUS, **box.auth("alice")})
    assert head.headers["Upload-Offset"] == "0"


async def test_duplicate_headers_are_refused(box: Dropbox, client: httpx.AsyncClient) -> None:
    created = await box.create(client, "alice", 10)
    upload_id = upload_id_of(created)
    auth = list(box.auth("alice").items())
    twice = await client.post(
        "/files/",
        headers=[*TUS.items(), *auth, ("Upload-Length", "5"), ("Upload-Length", "5")],
    )
    assert twice.status_code == 400 and "more than once" in twice.text
    patch = await client.patch(
        f"/files/{upload_id}",
        headers=[
            *TUS.items(),
            *STREAM.items(),
            *auth,
            ("Upload-Offset", "0"),
            ("Upload-Offset", "0"),
        ],
        content=b"abc",
    )
    assert patch.status_code == 400
    checksum = digest("sha1", b"abc")
    sums = await box.patch(
        client,
        "alice",
        upload_id,
        0,
        b"abc",
        extra={"Upload-Checksum": checksum},
    )
    assert sums.status_code == 204  # the same request with each header once is fine


# -- PATCH refusals --------------------------------------------------------------------------


async def test_patch_refusals_write_nothing(box: Dropbox, client: httpx.AsyncClient) -> None:
    created = await box.create(client, "alice", 10)
    upload_id = upload_id_of(created)
    auth = box.auth("alice")

    wrong_type = await client.patch(
        f"/files/{upload_id}",
        headers={**TUS, **auth, "Upload-Offset": "0", "Content-Type": "application/octet-stream"},
        content=b"abc",
    )
    assert wrong_type.status_code == 415
    no_type = await client.patch(
        f"/files/{upload_id}", headers={**TUS, **auth, "Upload-Offset": "0"}, content=b"abc"
    )
    assert no_type.status_code == 415
    no_version = await client.patch(
        f"/files/{upload_id}",
        headers={**STREAM, **auth, "Upload-Offset": "0"},
        content=b"abc",
    )
    assert no_version.status_code == 412 and no_version.headers["Tus-Version"] == "1.0.0"
    old_version = await client.patch(
        f"/files/{upload_id}",
        headers={**STREAM, **auth, "Upload-Offset": "0", "Tus-Resumable": "0.2.2"},
        content=b"abc",
    )
    assert old_version.status_code == 412
    no_offset = await client.patch(
        f"/files/{upload_id}", headers={**TUS, **STREAM, **auth}, content=b"abc"
    )
    assert no_offset.status_code == 400
    ahead = await box.patch(client, "alice", upload_id, 3, b"abc")
    assert ahead.status_code == 409 and ahead.headers["Upload-Offset"] == "0"
    past = await box.patch(client, "alice", upload_id, 0, b"x" * 11)
    assert past.status_code == 413
    mismatch = await box.patch(
        client, "alice", upload_id, 0, b"abc", extra={"Upload-Checksum": digest("sha1", b"abd")}
    )
    assert mismatch.status_code == 460 and error_code(mismatch) == "checksum_mismatch"
    unknown_algorithm = await box.patch(
        client,
        "alice",
        upload_id,
        0,
        b"abc",
        extra={"Upload-Checksum": "md5 kAFQmDzST7DWlj99KOF/cg=="},
    )
    assert unknown_algorithm.status_code == 400
    assert error_code(unknown_algorithm) == "checksum_algorithm"
    not_base64 = await box.patch(
        client, "alice", upload_id, 0, b"abc", extra={"Upload-Checksum": "sha1 ***"}
    )
    assert not_base64.status_code == 400

    head = await client.head(f"/files/{upload_id}", headers={**TUS, **auth})
    assert head.headers["Upload-Offset"] == "0"
    good = await box.patch(client, "alice", upload_id, 0, b"abc")
    assert good.status_code == 204 and good.headers["Upload-Offset"] == "3"


async def test_unknown_and_foreign_ids_are_the_same_404(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    file_id = await box.upload(client, "alice", b"alice's")
    unknown = "A" * 32
    answers = {}
    for who, target in (("bob", file_id), ("alice", unknown), ("alice", "../../etc/passwd")):
        auth = box.auth(who)
        path = f"/files/{target}"
        for method, extra in (
            ("GET", {}),
            ("HEAD", TUS),
            ("DELETE", TUS),
            ("PATCH", {**TUS, **STREAM, "Upload-Offset": "0"}),
        ):
            response = await client.request(method, path, headers={**auth, **extra}, content=b"")
            answers[(who, target, method)] = (response.status_code, response.content)
    statuses = {status for status, _ in answers.values()}
    assert statuses == {404}, answers
    bodies = {body for (who, target, method), (_, body) in answers.items() if method != "HEAD"}
    assert len(bodies) == 1  # the same words for another's id as for one that never was
    # Bob's listing shows none of Alice's files.
    listing = (await client.get("/files/?json", headers=box.auth("bob"))).json()
    assert file_id not in {entry["id"] for entry in listing}
    still = await client.get(f"/files/{file_id}", headers=box.auth("alice"))
    assert still.content == b"alice's"


async def test_termination_removes_an_upload_and_a_file(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    auth = box.auth("alice")
    partial = upload_id_of(await box.create(client, "alice", 10, body=b"12345"))
    finished = await box.upload(client, "alice", b"done")
    for upload_id in (partial, finished):
        gone = await client.delete(f"/files/{upload_id}", headers={**TUS, **auth})
        assert gone.status_code == 204
        head = await client.head(f"/files/{upload_id}", headers={**TUS, **auth})
        assert head.status_code == 404
    again = await client.delete(f"/files/{finished}", headers=auth)
    assert again.status_code == 404


async def test_a_read_only_token_reads_and_writes_nothing(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    reader = box.auth("reader")
    assert (await client.get("/files/?json", headers=reader)).json() == []
    create = await box.create(client, "reader", 5)
    assert create.status_code == 403 and error_code(create) == "read_only"
    upload_id = upload_id_of(await box.create(client, "alice", 5))
    patch = await box.patch(client, "reader", upload_id, 0, b"abc")
    assert patch.status_code == 403
    delete = await client.delete(f"/files/{upload_id}", headers={**TUS, **reader})
    assert delete.status_code == 403


async def test_bad_tokens_get_401_then_429(box: Dropbox) -> None:
    # From an address of its own: the failed-auth limit counts per address.
    async with box.client(source="127.0.0.2") as client:
        missing = await client.get("/files/?json")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        statuses = []
        for attempt in range(40):
            bad = await client.get(
                "/files/?json", headers={"Authorization": f"Bearer asdt_{attempt:043d}"}
            )
            statuses.append(bad.status_code)
            if bad.status_code == 429:
                break
        assert statuses[0] == 401 and statuses[-1] == 429, statuses
        assert set(statuses) == {401, 429}
        # While the address is limited even a good token is refused from it.
        good = await client.get("/files/?json", headers=box.auth("alice"))
        assert good.status_code == 429
    async with box.client() as other:
        assert (await other.get("/files/?json", headers=box.auth("alice"))).status_code == 200


async def test_quotas_answer_413_for_bytes_and_507_for_files(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    too_big = await box.create(client, "small", 101)
    assert too_big.status_code == 413 and error_code(too_big) == "quota"
    first = await box.create(client, "small", 60)
    assert first.status_code == 201
    over_bytes = await box.create(client, "small", 41)
    assert over_bytes.status_code == 413
    second = await box.create(client, "small", 40)
    assert second.status_code == 201
    third = await box.create(client, "small", 0)
    assert third.status_code == 507 and error_code(third) == "quota"


# -- downloads -------------------------------------------------------------------------------


async def test_downloads_are_attachments_never_rendered(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    html = b"<html><script>alert(document.cookie)</script></html>"
    for name in ("page.html", "image.svg"):
        file_id = await box.upload(client, "alice", html, name=name)
        got = await client.get(f"/files/{file_id}", headers=box.auth("alice"))
        assert got.status_code == 200 and got.content == html
        assert got.headers["Content-Type"] == "application/octet-stream"
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert got.headers["Content-Security-Policy"] == "sandbox"
        assert got.headers["Content-Disposition"] == (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
        )
        assert got.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_a_name_cannot_inject_a_header(box: Dropbox, client: httpx.AsyncClient) -> None:
    name = 'Ame\u0301lie "quoted"; filename=evil.exe %0d%0aX-Evil: 1 ü.txt'
    file_id = await box.upload(client, "alice", b"data", name=name)
    got = await client.get(f"/files/{file_id}", headers=box.auth("alice"))
    disposition = got.headers["Content-Disposition"]
    assert "X-Evil" not in got.headers
    plain, encoded = re.fullmatch(
        r'attachment; filename="([^"\\]*)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+)', disposition
    ).groups()  # type: ignore[union-attr]
    from urllib.parse import unquote

    assert unquote(encoded) == name.replace("Ame\u0301lie", "Amélie")  # NFC
    assert plain.isascii()


async def test_ranges(box: Dropbox, client: httpx.AsyncClient) -> None:
    data = bytes(range(256)) * 40
    file_id = await box.upload(client, "alice", data)
    auth = box.auth("alice")
    path = f"/files/{file_id}"
    cases = {
        "bytes=0-9": (206, data[0:10], "bytes 0-9/10240"),
        "bytes=10000-": (206, data[10000:], "bytes 10000-10239/10240"),
        "bytes=-40": (206, data[-40:], "bytes 10200-10239/10240"),
        "bytes=10200-99999": (206, data[10200:], "bytes 10200-10239/10240"),
        "bytes=0-1,5-6": (200, data, None),  # more than one range: the whole file
        "bytes=9-3": (200, data, None),  # invalid: ignored
        "items=0-1": (200, data, None),
        "bytes=0x1-2": (200, data, None),
    }
    for header, (status, body, content_range) in cases.items():
        got = await client.get(path, headers={**auth, "Range": header})
        assert got.status_code == status, header
        assert got.content == body, header
        assert got.headers.get("Content-Range") == content_range, header
        assert got.headers["Accept-Ranges"] == "bytes"
    for header in ("bytes=10240-", "bytes=99999-100000", "bytes=-0"):
        past = await client.get(path, headers={**auth, "Range": header})
        assert past.status_code == 416, header
        assert past.headers["Content-Range"] == "bytes */10240"
    etag = hashlib.sha256(data).hexdigest()
    same = await client.get(path, headers={**auth, "Range": "bytes=0-0", "If-Range": f'"{etag}"'})
    assert same.status_code == 206
    stale = await client.get(path, headers={**auth, "Range": "bytes=0-0", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == data
    head = await client.head(path, headers={**auth, "Range": "bytes=0-9"})
    assert head.status_code == 206
    assert head.headers["Content-Length"] == "10"
    assert head.headers["ETag"] == f'"{etag}"'
    whole = await client.head(path, headers=auth)
    assert whole.status_code == 200 and whole.headers["Content-Length"] == "10240"


async def test_an_unfinished_upload_does_not_download(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    upload_id = upload_id_of(await box.create(client, "alice", 10, body=b"12345"))
    got = await client.get(f"/files/{upload_id}", headers=box.auth("alice"))
    assert got.status_code == 404


async def test_the_listing_shows_what_the_token_may_see(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    data = b"listed"
    file_id = await box.upload(client, "bob", data, name="listed.txt")
    partial = upload_id_of(await box.create(client, "bob", 9, name="part.txt", body=b"abc"))
    listing = (await client.get("/files/?json", headers=box.auth("bob"))).json()
    assert {
        "id": file_id,
        "name": "listed.txt",
        "size": 6,
        "sha256": hashlib.sha256(data).hexdigest(),
        "complete": True,
    } in listing
    assert {
        "id": partial,
        "name": "part.txt",
        "size": 9,
        "sha256": None,
        "complete": False,
    } in listing
    assert all(set(entry) == {"id", "name", "size", "sha256", "complete"} for entry in listing)


# -- bodies that stall, PATCHes that race ----------------------------------------------------


async def _raw_patch_head(box: Dropbox, upload_id: str, offset: int, length: int) -> bytes:
    return (
        f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {box.tokens['alice']}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


class LostTheRace(Exception):
    """The probe took the upload's lock first, so the slow PATCH was the one refused."""


async def held(
    box: Dropbox, client: httpx.AsyncClient, upload_id: str, answer: asyncio.Task[bytes]
) -> None:
    """Poll until a slow PATCH, whose ``answer`` is awaited, holds the upload: another PATCH
    is then 423, whatever its offset (one naming a wrong offset is 409 before that, and
    writes nothing either way). A probe can itself hold the lock for an instant, and a slow
    PATCH arriving then is the one refused: LostTheRace, so the caller starts over."""
    async with asyncio.timeout(10):
        while not answer.done():
            racing = await box.patch(client, "alice", upload_id, 7, b"b")
            if racing.status_code == 423 and not answer.done():
                assert error_code(racing) == "busy"
                return
            assert racing.status_code in (409, 423), racing.text
            await asyncio.sleep(0.02)
    raise LostTheRace


async def test_a_stalled_body_is_cut_and_what_came_is_kept(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    upload_id = upload_id_of(await box.create(client, "alice", 1000))
    host, port = split_listen(box.daemon.listeners["dropbox"])
    reader, writer = await asyncio.open_connection(host, port, ssl=pinned(box.pem))
    try:
        writer.write(await _raw_patch_head(box, upload_id, 0, 1000) + b"y" * 300)
        await writer.drain()
        # The answer comes at the deadline (the connection may linger a while after it).
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE + 10)
        length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        body = await reader.readexactly(length)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ssl.SSLError, ConnectionError):
            pass
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"\r\nConnection: close\r\n" in head
    assert b"\r\nUpload-Offset: 300\r\n" in head
    assert json.loads(body)["error"]["code"] == "body_timeout"
    state = await client.head(f"/files/{upload_id}", headers={**TUS, **box.auth("alice")})
    assert state.headers["Upload-Offset"] == "300"
    rest = await box.patch(client, "alice", upload_id, 300, b"y" * 700)
    assert rest.status_code == 204 and rest.headers["Upload-Offset"] == "1000"


async def test_a_patch_racing_another_is_423(box: Dropbox, client: httpx.AsyncClient) -> None:
    for _ in range(5):
        with contextlib.suppress(LostTheRace):
            await _race_a_slow_patch(box, client)
            return
    raise AssertionError("the probe took the lock before the slow PATCH five times running")


async def _race_a_slow_patch(box: Dropbox, client: httpx.AsyncClient) -> None:
    upload_id = upload_id_of(await box.create(client, "alice", 100))
    host, port = split_listen(box.daemon.listeners["dropbox"])
    reader, writer = await asyncio.open_connection(host, port, ssl=pinned(box.pem))
    sent = 10
    done = asyncio.Event()
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))

    async def trickle() -> None:
        # A slow client, never idle for the body deadline, while the test races it.
        nonlocal sent
        while not done.is_set() and sent < 90:
            writer.write(b"a")
            await writer.drain()
            sent += 1
            await asyncio.sleep(IDLE / 5)

    try:
        writer.write(await _raw_patch_head(box, upload_id, 0, 100) + b"a" * sent)
        await writer.drain()
        slow = asyncio.create_task(trickle())
        try:
            await held(box, client, upload_id, answer)
        except LostTheRace:
            assert answer.result().startswith(b"HTTP/1.1 423 "), answer.result()
            done.set()
            with contextlib.suppress(ConnectionError):
                await slow
            raise
        delete = await client.delete(f"/files/{upload_id}", headers={**TUS, **box.auth("alice")})
        assert delete.status_code == 423
        done.set()
        await slow
        writer.write(b"a" * (100 - sent))
        await writer.drain()
        assert (await asyncio.wait_for(answer, 10)).startswith(b"HTTP/1.1 204 ")
    finally:
        if not answer.done():
            answer.cancel()
        writer.close()
    got = await client.get(f"/files/{upload_id}", headers=box.auth("alice"))
    assert got.content == b"a" * 100


async def test_metrics_count_bytes_uploads_and_refusals(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    before = await box.daemon.metrics()
    data = os.urandom(5000)
    file_id = await box.upload(client, "alice", data)
    await client.get(f"/files/{file_id}", headers=box.auth("alice"))
    await box.create(client, "alice", MAX_SIZE + 1)
    bad = await box.patch(client, "alice", file_id, 1, b"x")
    assert bad.status_code == 409
    after = await box.daemon.metrics()

    def grew(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert grew("autosred_dropbox_received_bytes_total") == 5000
    assert grew("autosred_dropbox_sent_bytes_total") == 5000
    assert grew("autosred_dropbox_uploads_started_total") == 1
    assert grew("autosred_dropbox_uploads_finished_total") == 1
    assert grew("autosred_dropbox_refused_total", reason="too_large") == 1
    assert grew("autosred_dropbox_refused_total", reason="offset_mismatch") == 1


async def test_location_names_the_host_asked_for_or_the_socket(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    host, port = split_listen(box.daemon.listeners["dropbox"])
    named = await box.create(client, "alice", 1, extra={"Host": "box.example:8443"})
    assert named.headers["Location"].startswith("https://box.example:8443/files/")
    # A Host that is not a plain authority never reaches the header the dropbox writes.
    for odd in ("evil.example/steal?x=", "user@evil.example", "a b"):
        created = await box.create(client, "alice", 1, extra={"Host": odd})
        assert created.status_code == 201, odd
        assert created.headers["Location"].startswith(f"https://{host}:{port}/files/"), odd


async def test_a_share_link_is_a_whole_counted_download(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    data = b"shared bytes " * 100
    file_id = await box.upload(client, "alice", data, name="shared.txt")
    code, url, err = await autosrectl(
        "--socket", str(box.daemon.admin_socket), "dropbox", "share", file_id,
        "--max-downloads", "1",
    )  # fmt: skip
    assert code == 0, err
    path = "/" + url.strip().split("/", 3)[3]
    # No HEAD (it would tell nothing a GET does not, and must not use the link up)...
    head = await client.head(path)
    assert head.status_code == 405 and head.headers["Allow"] == "GET"
    # ...and no Range: the one download is the whole file, with the download headers.
    got = await client.get(path, headers={"Range": "bytes=0-9"})
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Disposition"].startswith('attachment; filename="shared.txt"')
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Security-Policy"] == "sandbox"
    assert "Accept-Ranges" not in got.headers
    again = await client.get(path)
    assert again.status_code == 410


async def ids_of(box: Dropbox, client: httpx.AsyncClient) -> set[str]:
    listing = await client.get("/files/?json", headers=box.auth("alice"))
    return {entry["id"] for entry in listing.json()}


async def test_a_creation_whose_body_stalls_keeps_nothing(
    box: Dropbox, client: httpx.AsyncClient
) -> None:
    before = {
        entry["id"]
        for entry in (await client.get("/files/?json", headers=box.auth("alice"))).json()
    }
    host, port = split_listen(box.daemon.listeners["dropbox"])
    reader, writer = await asyncio.open_connection(host, port, ssl=pinned(box.pem))
    try:
        writer.write(
            (
                "POST /files/ HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {box.tokens['alice']}\r\nTus-Resumable: 1.0.0\r\n"
                "Content-Type: application/offset+octet-stream\r\nUpload-Length: 1000\r\n"
                "Content-Length: 1000\r\n\r\n"
            ).encode()
            + b"z" * 400
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE + 10)
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"Upload-Offset" not in head and b"Location" not in head
    after = {
        entry["id"]
        for entry in (await client.get("/files/?json", headers=box.auth("alice"))).json()
    }
    assert after == before
