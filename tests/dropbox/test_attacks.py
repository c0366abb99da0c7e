"""The dropbox attack list (issue 11, item 7), one table, against the real daemon over TLS.

Each row is a bad input the products this kind of service replaces have shipped a hole for
(path traversal in every encoding, header and metadata injection, guessed and foreign ids,
numbers that are not numbers, races, a full disk, stale and malformed credentials, stored
HTML, slow clients, old TLS, plaintext, no client certificate). Requests go out as raw bytes
over a TLS socket, so that nothing a client library would normalise (dot segments, percent
escapes, duplicate headers) is lost on the way. Each row checks the answer tus 1.0.0 and HTTP
give; every row also checks what must hold after any input: no 5xx, nothing written outside
the dropbox root (the whole test tree is compared, and no path anywhere holds the canary
name the traversals aim at), and no partial file listed or served as complete.

The daemons: `main` keeps its files on a real 96 MiB tmpfs (ENOSPC without filling the test
machine's disk; the store keeps 64 MiB free) with short header and body deadlines; `strict`
asks for client certificates (mTLS) and expires unfinished uploads after a second. Rows that
fail authentication on purpose connect from their own loopback address (127.0.0.N), because
failed attempts are rate limited per address and the other rows must not be.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from autosred.config import split_listen
from tests.dropbox.certs import Pair, make_pair
from tests.dropbox.transfer import wait_for
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio(loop_scope="module")

CANARY = f"autosred-canary-{uuid.uuid4().hex[:12]}"
"""The name every traversal aims at: it must not appear as a path anywhere."""
MAX_SIZE = 64 << 20
HEADER_TIMEOUT = 1.0
BODY_IDLE = 1.0
TUS = ("Tus-Resumable", "1.0.0")
STREAM = ("Content-Type", "application/offset+octet-stream")


# -- raw HTTP over TLS -----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[0] if values else None


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1]) if lines[0].startswith("HTTP/") else 0
    headers = [tuple(line.split(":", 1)) for line in lines[1:] if ":" in line]
    return Answer(
        status=status,
        headers=[(key.strip(), value.strip()) for key, value in headers],
        body=body,
        raw=raw,
    )


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass
class World:
    """One daemon's dropbox and the tokens the rows use."""

    daemon: Daemon
    tmp: Path
    root: Path
    pem: str
    tokens: dict[str, str]
    client: Pair | None = None
    answers: list[tuple[str, int]] = field(default_factory=list)
    before: dict[str, bytes | str] = field(default_factory=dict)

    @property
    def address(self) -> tuple[str, int]:
        return split_listen(self.daemon.listeners["dropbox"])

    def context(self, *, client: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.pem)
        context.set_alpn_protocols(["http/1.1"])
        if client and self.client is not None:
            context.load_cert_chain(self.client.cert, self.client.key)
        return context

    def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
        *,
        token: str | None = "alice",
    ) -> bytes:
        host, port = self.address
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        if token is not None:
            lines.append(f"Authorization: Bearer {self.tokens.get(token, token)}")
        lines += [f"{key}: {value}" for key, value in headers]
        given = any(key.lower() == "content-length" for key, _ in headers)
        if (body or method in ("POST", "PATCH")) and not given:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def send(
        self,
        data: bytes,
        *,
        source: str = "127.0.0.1",
        context: ssl.SSLContext | None = None,
        timeout: float = 20.0,
    ) -> Answer:
        """One request on its own connection; the whole answer (Connection: close)."""
        host, port = self.address
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context or self.context(), local_addr=(source, 0)
        )
        try:
            writer.write(data)
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), timeout)
        finally:
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 5)
        answer = parse(raw)
        self.answers.append((data[:60].decode("latin-1"), answer.status))
        # 507 is the designed answer to a full disk or a used-up file quota; any other 5xx
        # is the server failing.
        assert answer.status < 500 or answer.status == 507, f"a 5xx answer: {raw[:400]!r}"
        return answer

    async def ask(self, method: str, path: str, *headers: tuple[str, str], **kw: Any) -> Answer:
        body = kw.pop("body", b"")
        source = kw.pop("source", "127.0.0.1")
        return await self.send(self.request(method, path, headers, body, **kw), source=source)

    async def create(
        self, length: int, name: str = "f.bin", *, token: str = "alice", body: bytes = b""
    ) -> str:
        """A new upload (created with `body` when given); its id."""
        headers = [
            TUS,
            ("Upload-Length", str(length)),
            ("Upload-Metadata", f"filename {b64(name)}"),
        ]
        if body:
            headers.append(STREAM)
        answer = await self.ask("POST", "/files/", *headers, body=body, token=token)
        assert answer.status == 201, answer.raw[:400]
        location = answer.header("Location")
        assert location is not None
        return location.rsplit("/", 1)[-1]

    async def offset(self, upload: str, token: str = "alice") -> int:
        answer = await self.ask("HEAD", f"/files/{upload}", TUS, token=token)
        assert answer.status == 200, answer.raw[:300]
        return int(answer.header("Upload-Offset") or "-1")

    async def patch(self, upload: str, offset: int, data: bytes, *extra: tuple[str, str]) -> Answer:
        return await self.ask(
            "PATCH",
            f"/files/{upload}",
            TUS,
            STREAM,
            ("Upload-Offset", str(offset)),
            *extra,
            body=data,
        )

    async def upload(self, data: bytes, name: str = "f.bin", token: str = "alice") -> str:
        return await self.create(len(data), name, token=token, body=data)

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = await self.daemon.admin(method, path, body)
        assert status == 200, answer
        return answer


def outside_tree(world: World) -> dict[str, bytes | str]:
    """Every entry of the test's tree outside the dropbox root (a file's bytes, a link's
    target, 'dir'), less what the daemon itself rewrites: its log and its access state."""
    found: dict[str, bytes | str] = {}
    moving = ("daemon.log", "state/dropbox/access")
    for dirpath, dirnames, filenames in os.walk(world.tmp):
        here = Path(dirpath)
        if here == world.root:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            path = here / name
            key = str(path.relative_to(world.tmp))
            if path == world.root or key.startswith(moving):
                continue
            if path.is_symlink():
                found[key] = "link:" + os.readlink(path)
            elif path.is_dir():
                found[key] = "dir"
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "special"  # the admin and notify sockets
    return found


def canary_paths(world: World) -> list[str]:
    """Paths holding the canary name: anywhere in the test's tree, or directly in any
    directory above the root (where `../` at any depth, or an absolute name, would land)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(world.tmp):
        found += [os.path.join(dirpath, n) for n in dirnames + filenames if CANARY in n]
    for above in (world.root, *world.root.parents, Path("/tmp"), Path("/etc")):
        with contextlib.suppress(OSError):
            found += [str(above / n) for n in os.listdir(above) if CANARY in n]
    return found


# -- the daemons -----------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.fail(
            "the attack list's ENOSPC row needs a tmpfs and could not mount one (it needs "
            f"root or CAP_SYS_ADMIN, as CI has): {mounted.stderr.strip()}"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def make_tokens(daemon: Daemon) -> dict[str, str]:
    wanted: dict[str, dict[str, Any]] = {
        "alice": {},
        "bob": {},
        "reader": {"read_only": True},
        "carol": {"max_files": 2, "max_bytes": 1 << 20},
        "brief": {"expires_seconds": 1.0},
    }
    tokens = {}
    for name, options in wanted.items():
        status, answer = await daemon.admin("POST", "/v1/dropbox/tokens", {"name": name, **options})
        assert status == 200, answer
        tokens[name] = answer["token"]
    return tokens


async def pem_of(daemon: Daemon) -> str:
    status, answer = await daemon.admin("GET", "/v1/dropbox/cert")
    assert status == 200, answer
    pem: str = answer["pem"]
    return pem


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def main(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("attacks")
    (tmp / "outside").mkdir()
    (tmp / "outside" / "victim.txt").write_text("must survive")
    with tmpfs(tmp / "small", "96m") as small:
        root = small / "dropbox"
        config = base_config(
            tmp,
            [sim_recipe()],
            dropbox={
                "enabled": True,
                "listen": "127.0.0.1:0",
                "root": str(root),
                "max_size": MAX_SIZE,
                "body_idle_timeout": BODY_IDLE,
            },
            connections={"header_timeout": HEADER_TIMEOUT},
        )
        async with running_daemon(tmp, config) as daemon:
            world = World(
                daemon=daemon,
                tmp=tmp,
                root=root,
                pem=await pem_of(daemon),
                tokens=await make_tokens(daemon),
            )
            world.before = outside_tree(world)
            yield world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def strict(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("attacks-strict")
    _, ca_cert, ca_key = make_pair(tmp, "client-ca", ca=True)
    client, _, _ = make_pair(tmp, "client", issuer=(ca_cert, ca_key), client=True)
    config = base_config(
        tmp,
        [sim_recipe()],
        dropbox={
            "enabled": True,
            "listen": "127.0.0.1:0",
            "upload_expiry": 1.0,
            "tls": {"client_ca": str(tmp / "client-ca.pem")},
        },
    )
    async with running_daemon(tmp, config) as daemon:
        world = World(
            daemon=daemon,
            tmp=tmp,
            root=tmp / "state" / "dropbox",
            pem=await pem_of(daemon),
            tokens=await make_tokens(daemon),
            client=client,
        )
        world.before = outside_tree(world)
        yield world


# -- the rows --------------------------------------------------------------------------------

Row = Callable[[World], Awaitable[None]]


@dataclass(frozen=True)
class Simple:
    """A row that is one request and the statuses tus and HTTP allow for it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    expect: frozenset[int] = frozenset({400})
    token: str | None = "alice"

    async def __call__(self, world: World) -> None:
        answer = await world.ask(
            self.method, self.path, *self.headers, body=self.body, token=self.token
        )
        assert answer.status in self.expect, answer.raw[:400]


def creation(name: str | bytes, *, length: int = 3, expect: int = 400) -> Simple:
    """A creation whose file name is `name`."""
    return Simple(
        "POST",
        "/files/",
        (TUS, ("Upload-Length", str(length)), ("Upload-Metadata", f"filename {b64(name)}")),
        expect=frozenset({expect}),
    )


def bad_length(value: str) -> Simple:
    return Simple("POST", "/files/", (TUS, ("Upload-Length", value)))


async def literal_percent_names_are_just_names(world: World) -> None:
    # A name is metadata, never a path: escapes in it are characters, stored as given.
    for name in (f"%2e%2e%2f{CANARY}", f"%252e%252e%252f{CANARY}", f"..%2f{CANARY}"):
        upload = await world.upload(b"abc", name)
        answer = await world.ask("GET", f"/files/{upload}")
        assert answer.status == 200 and answer.body == b"abc"
        disposition = answer.header("Content-Disposition") or ""
        assert disposition.startswith("attachment;")
        await world.ask("DELETE", f"/files/{upload}", TUS)


async def traversal_in_the_url(world: World) -> None:
    for path in (
        "/files/../../../../etc/passwd",
        "/files/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/files/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/files/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "/files/..\\..\\..\\etc\\passwd",
        "/files/..%5c..%5c..%5cetc%5cpasswd",
        "/files/%2fetc%2fpasswd",
        "/files//etc/passwd",
        "/files/%00",
        "/files/.%2e/.%2e/outside/victim.txt",
    ):
        for method in ("GET", "HEAD"):
            answer = await world.ask(method, path)
            assert answer.status in (400, 404), (path, answer.raw[:300])
            assert b"root:" not in answer.body and b"must survive" not in answer.body


async def delete_traversal(world: World) -> None:
    rel = f"../../../../../../{world.tmp.relative_to('/')}/outside"
    for path in (
        f"/files/{rel}/victim.txt",
        "/files/..%2f..%2f..%2foutside%2fvictim.txt",
        "/files/%2e%2e%2f%2e%2e%2foutside",
        "/files/%252e%252e%252foutside",
        "/files/..\\..\\outside",
        "/files/.",
        "/files/..",
    ):
        answer = await world.ask("DELETE", path, TUS)
        assert answer.status in (400, 404, 405), (path, answer.raw[:300])
    assert (world.tmp / "outside" / "victim.txt").read_text() == "must survive"


async def planted_symlinks(world: World) -> None:
    # Ids of the right shape whose directories are links out of the root: never followed.
    outside = world.tmp / "outside"
    for area in ("files", "partial"):
        planted = "A" * 31 + ("f" if area == "files" else "p")
        link = world.root / area / planted
        link.symlink_to(outside, target_is_directory=True)
        try:
            for method, extra in (("GET", ()), ("HEAD", (TUS,)), ("DELETE", (TUS,))):
                answer = await world.ask(method, f"/files/{planted}", *extra)
                assert answer.status == 404, answer.raw[:300]
            answer = await world.patch(planted, 0, b"overwrite")
            assert answer.status == 404, answer.raw[:300]
        finally:
            link.unlink()
    # A link in place of a real file's data: the download refuses it, never serves its target.
    upload = await world.upload(b"real", "real.txt")
    data = world.root / "files" / upload / "data"
    data.unlink()
    data.symlink_to(outside / "victim.txt")
    try:
        answer = await world.ask("GET", f"/files/{upload}")
        assert answer.status == 404 and b"must survive" not in answer.body
    finally:
        data.unlink()
    answer = await world.ask("DELETE", f"/files/{upload}", TUS)
    assert answer.status in (204, 404)
    assert (outside / "victim.txt").read_text() == "must survive"


async def guessed_and_tampered_ids(world: World) -> None:
    upload = await world.upload(b"secret", "secret.txt")
    tampered = [
        upload[:-1] + ("A" if upload[-1] != "A" else "B"),
        upload.swapcase(),
        upload + "A",
        upload[:-1],
        upload + "/",
        upload + "%00",
        upload + "/../" + upload,
        "A" * 32,
        "0" * 32,
        "-" * 32,
    ]
    for guess in tampered:
        for method in ("GET", "HEAD", "DELETE"):
            answer = await world.ask(
                method, f"/files/{guess}", *((TUS,) if method != "GET" else ())
            )
            assert answer.status in (404, 400), (guess, method, answer.raw[:200])
    answer = await world.ask("GET", f"/files/{upload}")
    assert answer.status == 200 and answer.body == b"secret"


async def body_past_the_length(world: World) -> None:
    upload = await world.create(4)
    answer = await world.patch(upload, 0, b"12345678")
    assert answer.status == 413
    assert await world.offset(upload) == 0
    # A Content-Length that tells the truth about a short body, then more bytes than it said:
    # the extra bytes are the next request on the connection, never part of the upload.
    raw = world.request(
        "PATCH",
        f"/files/{upload}",
        [TUS, STREAM, ("Upload-Offset", "0"), ("Content-Length", "4")],
        b"1234",
    ).replace(b"Connection: close\r\n", b"")
    answer = await world.send(raw + world.request("PUT", f"/files/{upload}", body=b"5678"))
    assert answer.status == 204, answer.raw[:300]
    assert answer.raw.count(b"HTTP/1.1 ") == 2  # the PUT got an answer of its own
    entry = next(f for f in await listing(world) if f["id"] == upload)
    assert entry["size"] == 4 and entry["complete"]
    assert (await world.ask("GET", f"/files/{upload}")).body == b"1234"
    # Creation with upload whose body is longer than Upload-Length.
    answer = await world.ask(
        "POST",
        "/files/",
        TUS,
        STREAM,
        ("Upload-Length", "2"),
        ("Upload-Metadata", f"filename {b64('x')}"),
        body=b"abcdef",
    )
    assert answer.status == 413


async def offset_mismatch(world: World) -> None:
    upload = await world.create(10)
    for wrong in ("5", "10", "11"):
        answer = await world.patch(upload, int(wrong), b"x")
        assert answer.status in (409, 413), answer.raw[:200]
    assert (await world.patch(upload, 0, b"12345")).status == 204
    answer = await world.patch(upload, 0, b"12345")
    assert answer.status == 409 and answer.header("Upload-Offset") == "5"
    assert await world.offset(upload) == 5


async def duplicate_headers(world: World) -> None:
    answer = await world.ask(
        "POST", "/files/", TUS, ("Upload-Length", "3"), ("Upload-Length", "300")
    )
    assert answer.status == 400
    upload = await world.create(10)
    answer = await world.ask(
        "PATCH",
        f"/files/{upload}",
        TUS,
        STREAM,
        ("Upload-Offset", "0"),
        ("Upload-Offset", "0"),
        body=b"abc",
    )
    assert answer.status == 400
    answer = await world.ask("GET", "/files/?json", ("Authorization", "Bearer x"))
    assert answer.status == 400  # two Authorization headers: neither is believed
    assert await world.offset(upload) == 0


async def concurrent_patches(world: World) -> None:
    upload = await world.create(2 << 20)
    data = os.urandom(2 << 20)
    raws = [
        world.request("PATCH", f"/files/{upload}", [TUS, STREAM, ("Upload-Offset", "0")], data)
        for _ in range(4)
    ]
    answers = await asyncio.gather(*(world.send(raw) for raw in raws))
    statuses = sorted(answer.status for answer in answers)
    assert statuses.count(204) == 1, statuses
    assert set(statuses) <= {204, 409, 423}, statuses
    got = await world.ask("GET", f"/files/{upload}")
    assert got.status == 200 and got.body == data


async def wrong_checksums(world: World) -> None:
    upload = await world.create(6)
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    answer = await world.patch(upload, 0, b"abc", ("Upload-Checksum", f"sha256 {wrong}"))
    assert answer.status == 460
    assert await world.offset(upload) == 0
    for bad in ("md5 " + b64(b"x" * 16), "sha256 not-base64!", "sha256", "sha1 " + b64(b"short")):
        answer = await world.patch(upload, 0, b"abc", ("Upload-Checksum", bad))
        assert answer.status == 400, (bad, answer.raw[:200])
    answer = await world.patch(
        upload, 0, b"abc", ("Upload-Checksum", f"sha256 {sha256_b64(b'abc')}")
    )
    assert answer.status == 204 and await world.offset(upload) == 3


async def wrong_version_and_type(world: World) -> None:
    upload = await world.create(3)
    for version in ("0.2.2", "1.0", "", "1.0.0, 1.0.0"):
        answer = await world.ask(
            "PATCH",
            f"/files/{upload}",
            ("Tus-Resumable", version),
            STREAM,
            ("Upload-Offset", "0"),
            body=b"abc",
        )
        assert answer.status in (412, 400), (version, answer.raw[:200])
        if answer.status == 412:
            assert answer.header("Tus-Version") == "1.0.0"
    answer = await world.ask(
        "PATCH", f"/files/{upload}", STREAM, ("Upload-Offset", "0"), body=b"abc"
    )
    assert answer.status == 412
    for kind in ("application/octet-stream", "text/html", "multipart/form-data; boundary=x"):
        answer = await world.ask(
            "PATCH",
            f"/files/{upload}",
            TUS,
            ("Content-Type", kind),
            ("Upload-Offset", "0"),
            body=b"abc",
        )
        assert answer.status == 415, (kind, answer.raw[:200])
    assert await world.offset(upload) == 0


async def no_space(world: World) -> None:
    # 96 MiB of tmpfs and 64 MiB kept free by the store: a 40 MiB upload is refused when it
    # is created; seven uploads of 16 MiB each fit when created (creation reserves nothing)
    # and the disk fills while they are written: 507 with the exact durable offset.
    answer = await world.ask(
        "POST", "/files/", TUS, ("Upload-Length", str(40 << 20)),
        ("Upload-Metadata", f"filename {b64('big')}"),
    )  # fmt: skip
    assert answer.status == 507
    size = 16 << 20
    uploads = [await world.create(size, f"fill-{n}") for n in range(7)]
    data = os.urandom(size)
    full: Answer | None = None
    try:
        for upload in uploads:
            answer = await world.patch(upload, 0, data)
            if answer.status != 204:
                full = answer
                reached = await world.offset(upload)
                break
        assert full is not None and full.status == 507, "the disk never filled"
        assert full.header("Upload-Offset") == str(reached)
        assert 0 <= reached < size
    finally:
        for upload in uploads:
            await world.ask("DELETE", f"/files/{upload}", TUS)
    # With the space back the store takes uploads again.
    fresh = await world.upload(b"after", "after.txt")
    assert (await world.ask("GET", f"/files/{fresh}")).body == b"after"


async def quota_exhaustion(world: World) -> None:
    # carol: 2 files, 1 MiB.
    answer = await world.ask("POST", "/files/", TUS, ("Upload-Length", str(2 << 20)), token="carol")
    assert answer.status == 413
    await world.create(10, "one", token="carol")
    await world.create(10, "two", token="carol")
    answer = await world.ask("POST", "/files/", TUS, ("Upload-Length", "10"), token="carol")
    assert answer.status == 507


async def expired_uploads(world: World) -> None:
    upload = await world.create(10)
    await world.patch(upload, 0, b"12345")

    async def gone() -> int | None:
        answer = await world.ask("HEAD", f"/files/{upload}", TUS)
        return answer.status if answer.status == 410 else None

    # While the sweep removes it, a HEAD may find neither the upload nor its expiry noted
    # (404); once removed it answers 410 for good.
    assert await wait_for(gone, "the upload to expire", timeout=15) == 410
    assert (await world.patch(upload, 5, b"67890")).status == 410
    assert upload not in {f["id"] for f in await listing(world)}


async def expired_links_and_tokens(world: World) -> None:
    upload = await world.upload(b"shared", "shared.txt")
    share = await world.admin("POST", "/v1/dropbox/shares", {"id": upload, "expires_seconds": 1.0})
    path = "/s/" + share["url"].rsplit("/s/", 1)[1]

    async def refused(raw: bytes, source: str) -> int | None:
        answer = await world.send(raw, source=source)
        return answer.status if answer.status not in (200,) else None

    link = world.request("GET", path, token=None)
    assert await wait_for(lambda: refused(link, "127.0.0.1"), "the link to expire") in (404, 410)
    brief = world.request("GET", "/files/?json", token="brief")
    assert await wait_for(lambda: refused(brief, "127.0.0.3"), "the token to expire") == 401


async def malformed_tokens(world: World) -> None:
    for value in (
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6cGFzcw==",
        "bearer " + world.tokens["alice"] + "x",
        "Bearer " + world.tokens["alice"][:-1],
        "Bearer " + world.tokens["alice"] + " extra",
        "Bearer asdt_" + "A" * 2000,
        "Bearer \u00e9",
    ):
        answer = await world.ask(
            "GET", "/files/?json", ("Authorization", value), token=None, source="127.0.0.4"
        )
        assert answer.status in (400, 401), (value[:30], answer.raw[:200])
        if answer.status == 401:
            assert (answer.header("WWW-Authenticate") or "").startswith("Bearer")
    answer = await world.ask("GET", "/files/?json", token=None, source="127.0.0.4")
    assert answer.status in (401, 429)


async def failed_auth_is_rate_limited(world: World) -> None:
    statuses = []
    for n in range(12):
        answer = await world.ask("GET", "/files/?json", token=f"asdt_guess{n}", source="127.0.0.5")
        statuses.append(answer.status)
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    # Even the right token waits now, from that address; another address is served.
    blocked = await world.ask("GET", "/files/?json", source="127.0.0.5")
    assert blocked.status == 429
    assert (await world.ask("GET", "/files/?json", source="127.0.0.1")).status == 200


async def another_tokens_ids(world: World) -> None:
    upload = await world.upload(b"alice's", "mine.txt")
    unfinished = await world.create(10, "half")
    for target in (upload, unfinished):
        for method, extra in (("GET", ()), ("HEAD", (TUS,)), ("DELETE", (TUS,))):
            answer = await world.ask(method, f"/files/{target}", *extra, token="bob")
            assert answer.status == 404, (method, answer.raw[:200])
        answer = await world.ask(
            "PATCH", f"/files/{target}", TUS, STREAM, ("Upload-Offset", "0"),
            body=b"x", token="bob",
        )  # fmt: skip
        assert answer.status == 404
    listed = await world.ask("GET", "/files/?json", token="bob")
    assert upload.encode() not in listed.body and unfinished.encode() not in listed.body
    # A read-only token writes nothing, even its own.
    answer = await world.ask("POST", "/files/", TUS, ("Upload-Length", "1"), token="reader")
    assert answer.status == 403
    assert (await world.ask("GET", f"/files/{upload}")).body == b"alice's"


async def one_time_link_in_parallel(world: World) -> None:
    upload = await world.upload(b"once" * 1000, "once.bin")
    share = await world.admin("POST", "/v1/dropbox/shares", {"id": upload, "max_downloads": 1})
    path = "/s/" + share["url"].rsplit("/s/", 1)[1]
    raw = world.request("GET", path, token=None)
    answers = await asyncio.gather(*(world.send(raw) for _ in range(12)))
    statuses = sorted(answer.status for answer in answers)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 404, 410}, statuses
    winner = next(a for a in answers if a.status == 200)
    assert winner.body == b"once" * 1000


async def stored_html_is_an_attachment(world: World) -> None:
    for name, content in (
        ("page.html", b"<html><script>alert(document.cookie)</script></html>"),
        ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("noext", b"<!doctype html><script>alert(1)</script>"),
    ):
        upload = await world.upload(content, name)
        for path, token in ((f"/files/{upload}", "alice"),):
            answer = await world.ask("GET", path, token=token)
            assert answer.status == 200 and answer.body == content
            assert answer.header("Content-Type") == "application/octet-stream"
            assert (answer.header("Content-Disposition") or "").startswith("attachment;")
            assert answer.header("X-Content-Type-Options") == "nosniff"
            assert answer.header("Content-Security-Policy") == "sandbox"
        share = await world.admin("POST", "/v1/dropbox/shares", {"id": upload})
        shared = await world.ask("GET", "/s/" + share["url"].rsplit("/s/", 1)[1], token=None)
        assert shared.status == 200
        assert (shared.header("Content-Disposition") or "").startswith("attachment;")
        assert shared.header("Content-Type") == "application/octet-stream"


async def reflected_header_injection(world: World) -> None:
    # A name that tries to close the header's quoted string and add a parameter or a line.
    tricky = 'a".html; filename=evil.html'
    upload = await world.upload(b"x", tricky)
    answer = await world.ask("GET", f"/files/{upload}")
    disposition = answer.header("Content-Disposition") or ""
    assert disposition.count('"') == 2, disposition
    assert "filename*=UTF-8''a%22.html%3B%20filename%3Devil.html" in disposition
    assert len([1 for key, _ in answer.headers if key.lower() == "content-disposition"]) == 1
    # A Host header that is not a plain host[:port] never reaches the Location.
    for host in ('evil.example/"><script>', "evil.example@127.0.0.1", "a b"):
        raw = world.request("POST", "/files/", [TUS, ("Upload-Length", "1")]).replace(
            f"Host: {world.address[0]}:{world.address[1]}".encode(), f"Host: {host}".encode()
        )
        answer = await world.send(raw)
        assert answer.status in (201, 400), answer.raw[:200]
        if answer.status == 201:
            location = answer.header("Location") or ""
            assert location.startswith("https://127.0.0.1:"), location
    # Names with CR/LF or NUL are refused before they could reach a header or a log line.
    for name in ("a\r\nSet-Cookie: x=1", "a\nb", "a\x00b", "a\u2028b", "a\u202eb"):
        answer = await world.ask(
            "POST", "/files/", TUS, ("Upload-Length", "1"),
            ("Upload-Metadata", f"filename {b64(name)}"),
        )  # fmt: skip
        assert answer.status == 400, (name, answer.raw[:200])
        assert b"Set-Cookie" not in answer.raw.split(b"\r\n\r\n")[0]


async def multi_range(world: World) -> None:
    data = bytes(range(256)) * 4
    upload = await world.upload(data, "ranged.bin")
    for value in ("bytes=0-1,3-4", "bytes=0-0,0-0,0-0,0-0", "bytes=0-1, 5-", "bytes=-1,-2"):
        answer = await world.ask("GET", f"/files/{upload}", ("Range", value))
        assert answer.status == 200, (value, answer.raw[:200])
        assert answer.body == data
        assert b"multipart/byteranges" not in answer.raw.split(b"\r\n\r\n")[0]
    answer = await world.ask("GET", f"/files/{upload}", ("Range", "bytes=10-19"))
    assert answer.status == 206 and answer.body == data[10:20]
    answer = await world.ask("GET", f"/files/{upload}", ("Range", f"bytes={len(data)}-"))
    assert answer.status == 416


async def overwrite_by_name(world: World) -> None:
    first = await world.upload(b"first", "same.txt")
    second = await world.upload(b"second", "same.txt")
    assert first != second
    assert (await world.ask("GET", f"/files/{first}")).body == b"first"
    assert (await world.ask("GET", f"/files/{second}")).body == b"second"


async def slowloris(world: World) -> None:
    host, port = world.address
    reader, writer = await asyncio.open_connection(host, port, ssl=world.context())
    try:
        writer.write(b"GET /files/?json HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()

        async def trickle() -> None:
            # A header line every 0.2 s, never the blank line: the deadline counts from the
            # start of the head, not from the last byte.
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                for n in range(100):
                    writer.write(f"X-Slow-{n}: a\r\n".encode())
                    await writer.drain()
                    await asyncio.sleep(0.2)

        trickling = asyncio.create_task(trickle())
        answer = await asyncio.wait_for(reader.read(), HEADER_TIMEOUT + 10)
        trickling.cancel()
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    finally:
        writer.close()


async def slow_body(world: World) -> None:
    upload = await world.create(1000)
    host, port = world.address
    reader, writer = await asyncio.open_connection(host, port, ssl=world.context())
    try:
        head = world.request(
            "PATCH",
            f"/files/{upload}",
            [TUS, STREAM, ("Upload-Offset", "0"), ("Content-Length", "1000")],
        )
        writer.write(head + b"x" * 100)
        await writer.drain()
        # The answer comes at the deadline; the connection may linger a little after it.
        got = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BODY_IDLE + 10)
        answer = parse(got)
        got += await reader.readexactly(int(answer.header("Content-Length") or "0"))
        answer = parse(got)
    finally:
        writer.close()
    assert answer.status == 408
    kept = int(answer.header("Upload-Offset") or "-1")
    assert kept == await world.offset(upload)
    assert 0 <= kept <= 100
    assert (await world.patch(upload, kept, b"y" * (1000 - kept))).status == 204


async def plaintext_on_the_tls_port(world: World) -> None:
    host, port = world.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(world.request("GET", "/files/?json"))
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    assert b"HTTP/1.1 200" not in answer and world.tokens["alice"].encode() not in answer


async def old_tls(world: World) -> None:
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        context = world.context()
        # The client allows the old protocol (OpenSSL would otherwise refuse to offer it):
        # what is left to refuse it is the daemon.
        context.set_ciphers("ALL:@SECLEVEL=0")
        context.minimum_version = version
        context.maximum_version = version
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            await world.send(world.request("GET", "/files/?json"), context=context)


async def mtls_without_a_certificate(world: World) -> None:
    try:
        answer = await world.send(
            world.request("GET", "/files/?json"), context=world.context(client=False)
        )
        status = answer.status
    except (ssl.SSLError, ConnectionError):
        status = 0
    assert status == 0, "served without a client certificate"
    assert (await world.ask("GET", "/files/?json")).status == 200


# name, daemon, row
ROWS: list[tuple[str, str, Row]] = [
    ("name ../ traversal", "main", creation(f"../../../../tmp/{CANARY}")),
    ("name ..\\ traversal", "main", creation(f"..\\..\\..\\{CANARY}")),
    ("name absolute", "main", creation(f"/tmp/{CANARY}")),
    ("name UNC", "main", creation(f"\\\\server\\share\\{CANARY}")),
    ("name . and ..", "main", creation("..")),
    ("name with NUL", "main", creation(f"{CANARY}\x00.txt")),
    ("name with CR/LF", "main", creation(f"{CANARY}\r\nX-Injected: 1")),
    ("name too long", "main", creation("n" * 256)),
    ("name empty", "main", creation("")),
    ("name not UTF-8", "main", creation(b"\xff\xfe")),
    ("names with escapes", "main", literal_percent_names_are_just_names),
    ("metadata malformed", "main", Simple(
        "POST", "/files/", (TUS, ("Upload-Length", "1"), ("Upload-Metadata", "filename !!")))),
    ("metadata key with CR", "main", Simple(
        "POST", "/files/", (TUS, ("Upload-Length", "1"), ("Upload-Metadata", "a\rb YQ==")))),
    ("URL traversal, every encoding", "main", traversal_in_the_url),
    ("DELETE traversal", "main", delete_traversal),
    ("planted symlinks", "main", planted_symlinks),
    ("guessed and tampered ids", "main", guessed_and_tampered_ids),
    ("Upload-Length over the maximum", "main", Simple(
        "POST", "/files/", (TUS, ("Upload-Length", str(MAX_SIZE + 1))),
        expect=frozenset({413}))),
    ("body past the declared length", "main", body_past_the_length),
    ("offset mismatch", "main", offset_mismatch),
    ("number -1", "main", bad_length("-1")),
    ("number 1e3", "main", bad_length("1e3")),
    ("number 0x10", "main", bad_length("0x10")),
    ("number 30 digits", "main", bad_length("1" * 30)),
    ("number +5 and spaces", "main", bad_length("+5")),
    ("duplicate headers", "main", duplicate_headers),
    ("concurrent PATCHes", "main", concurrent_patches),
    ("wrong checksums", "main", wrong_checksums),
    ("wrong tus version and content type", "main", wrong_version_and_type),
    ("method override", "main", Simple(
        "POST", "/files/x", (TUS, ("X-HTTP-Method-Override", "DELETE")),
        expect=frozenset({400, 404, 405}))),
    ("ENOSPC", "main", no_space),
    ("quota exhaustion", "main", quota_exhaustion),
    ("expired uploads", "strict", expired_uploads),
    ("expired links and tokens", "main", expired_links_and_tokens),
    ("malformed tokens", "main", malformed_tokens),
    ("failed auth rate limited", "main", failed_auth_is_rate_limited),
    ("no token", "main", Simple("GET", "/files/?json", expect=frozenset({401}), token=None)),
    ("another token's ids", "main", another_tokens_ids),
    ("one-time link, parallel downloads", "main", one_time_link_in_parallel),
    ("stored HTML and SVG", "main", stored_html_is_an_attachment),
    ("reflected header injection", "main", reflected_header_injection),
    ("multi-range", "main", multi_range),
    ("overwrite by re-use of a name", "main", overwrite_by_name),
    ("slowloris", "main", slowloris),
    ("slow body", "main", slow_body),
    ("plaintext HTTP on the TLS port", "main", plaintext_on_the_tls_port),
    ("TLS 1.0 and 1.1", "main", old_tls),
    ("mTLS without a certificate", "strict", mtls_without_a_certificate),
]  # fmt: skip


async def listing(world: World) -> list[dict[str, Any]]:
    status, answer = await world.daemon.admin("GET", "/v1/dropbox/files")
    assert status == 200, answer
    files: list[dict[str, Any]] = answer["files"]
    return files


@pytest.fixture
def worlds(main: World, strict: World) -> dict[str, World]:
    return {"main": main, "strict": strict}


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1.* is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("daemon", "row"), [(d, r) for _, d, r in ROWS], ids=[n for n, _, _ in ROWS]
)
async def test_attack(worlds: dict[str, World], daemon: str, row: Row) -> None:
    world = worlds[daemon]
    await row(world)
    assert outside_tree(world) == world.before, "something changed outside the dropbox root"
    assert canary_paths(world) == []
    # Whatever is listed as complete is a finished file whole on disk, never an upload.
    for entry in await listing(world):
        data = world.root / ("files" if entry["complete"] else "partial") / entry["id"] / "data"
        assert data.is_file() and not data.is_symlink(), entry
        if entry["complete"]:
            assert data.stat().st_size == entry["size"], entry
            assert not (world.root / "partial" / entry["id"]).exists(), entry


async def test_nothing_partial_is_visible_as_complete(main: World, strict: World) -> None:
    """After every row: each file listed as complete is served whole, with its sha256."""
    for world in (main, strict):
        # autosrectl's session token sees every owner's files.
        session = await world.admin("POST", "/v1/dropbox/session", {})
        for entry in await listing(world):
            if not entry["complete"]:
                continue
            answer = await world.ask("GET", f"/files/{entry['id']}", token=session["token"])
            assert answer.status == 200, answer.raw[:200]
            assert len(answer.body) == entry["size"]
            assert hashlib.sha256(answer.body).hexdigest() == entry["sha256"]
