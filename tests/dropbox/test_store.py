"""The dropbox storage against the storage cases of issue 11's attack list."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from autosred.dropbox.storage import (
    BadChecksumAlgorithm,
    BadName,
    Checksum,
    ChecksumMismatch,
    NotFound,
    OffsetMismatch,
    Quota,
    QuotaExceeded,
    Store,
    TooLarge,
    UploadBusy,
)
from autosred.dropbox.storage.ids import is_id, new_id
from tests.dropbox.conftest import Clock
from tests.dropbox.support import body, broken_body, held_body, tree

OWNER = "alice"


async def read_all(store: Store, owner: str, file_id: str) -> bytes:
    async with await store.open_file(owner, file_id) as stored:
        return await stored.read(0, stored.size + 1)


async def test_upload_in_parts_completes_with_its_sha256(store: Store) -> None:
    data = os.urandom(300_000)
    entry = await store.create(
        OWNER, len(data), {"filename": b"report.pdf", "type": b"application/pdf"}
    )
    assert is_id(entry.id) and entry.offset == 0 and not entry.complete
    part = await store.append(OWNER, entry.id, 0, body(data[:100_000], data[100_000:150_000]))
    assert (part.offset, part.complete) == (150_000, False)
    assert (await store.get(OWNER, entry.id)).offset == 150_000
    done = await store.append(OWNER, entry.id, 150_000, body(data[150_000:]))
    assert done.complete and done.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(store, OWNER, entry.id) == data
    [listed] = await store.entries(OWNER)
    assert (listed.id, listed.name, listed.length) == (entry.id, "report.pdf", len(data))
    assert listed.metadata["type"] == b"application/pdf" and listed.complete


async def test_one_append_of_everything_has_the_sha256_of_what_is_on_disk(
    store: Store, root: Path
) -> None:
    # Hashed as it is written (no second read): the digest must still be the file's.
    data = os.urandom(200_000)
    entry = await store.create(OWNER, len(data), {})
    pieces = [data[i : i + 7_000] for i in range(0, len(data), 7_000)]
    done = await store.append(OWNER, entry.id, 0, body(*pieces))
    on_disk = (root / "files" / entry.id / "data").read_bytes()
    assert done.complete and done.sha256 == hashlib.sha256(on_disk).hexdigest()
    assert on_disk == data
    # An append that starts at 0 but fails keeps nothing of its hash: the resumed upload is
    # hashed from the disk at its completion.
    again = await store.create(OWNER, len(data), {})
    with pytest.raises(ConnectionResetError):
        await store.append(OWNER, again.id, 0, broken_body(data[:50_000]))
    resumed = await store.append(OWNER, again.id, 50_000, body(data[50_000:]))
    assert resumed.sha256 == hashlib.sha256(data).hexdigest()


async def test_empty_upload_is_complete_at_once(store: Store) -> None:
    entry = await store.create(OWNER, 0, {})
    assert entry.complete and entry.sha256 == hashlib.sha256(b"").hexdigest()
    assert await read_all(store, OWNER, entry.id) == b""


@pytest.mark.parametrize(
    "name",
    [
        b"../../../../escape",
        b"%2e%2e%2fescape",
        b"%252e%252e%252fescape",
        b"..\\..\\escape",
        b"/tmp/escape",
        b"\\\\server\\share\\escape",
        b"C:\\escape",
        "..／escape".encode(),
        b"..%c0%afescape",
    ],
)
async def test_traversal_in_names_writes_nothing_outside_the_root(
    store: Store, root: Path, name: bytes
) -> None:
    parent = root.parent
    before = {key: value for key, value in tree(parent).items() if not key.startswith(root.name)}
    try:
        entry = await store.create(OWNER, 5, {"filename": name})
    except BadName:
        pass
    else:
        await store.append(OWNER, entry.id, 0, body(b"hello"))
        assert (await store.get(OWNER, entry.id)).name == name.decode()
    after = {key: value for key, value in tree(parent).items() if not key.startswith(root.name)}
    assert after == before
    # Inside the root, only the store's own layout: <part>/<id>/{data,meta.json}.
    for key in tree(root):
        parts = key.split(os.sep)
        assert parts[0] in {"partial", "files"}
        assert len(parts) == 1 or (
            is_id(parts[1]) and (len(parts) == 2 or parts[2] in {"data", "meta.json"})
        )


@pytest.mark.parametrize("name", [b"a\x00b", b"a\r\nb", b"a\nb", b"", b"x" * 256, b"\xff"])
async def test_bad_names_refused_and_nothing_created(store: Store, root: Path, name: bytes) -> None:
    with pytest.raises(BadName):
        await store.create(OWNER, 5, {"filename": name})
    assert await store.entries(OWNER) == []
    assert os.listdir(root / "partial") == []


async def test_guessed_tampered_and_foreign_ids_are_uniformly_not_found(store: Store) -> None:
    mine = await store.create(OWNER, 4, {})
    theirs = await store.create("bob", 4, {})
    await store.append("bob", theirs.id, 0, body(b"bob!"))
    tampered = mine.id[:-1] + ("A" if mine.id[-1] != "A" else "B")
    for bad in [
        new_id(),
        tampered,
        "",
        "..",
        "../files",
        mine.id + "/..",
        mine.id.upper() + "x",
        theirs.id,
        "partial",
    ]:
        with pytest.raises(NotFound):
            await store.get(OWNER, bad)
        with pytest.raises(NotFound):
            await store.append(OWNER, bad, 0, body(b"x"))
        with pytest.raises(NotFound):
            await store.terminate(OWNER, bad)
        with pytest.raises(NotFound):
            await store.open_file(OWNER, bad)
    assert [entry.id for entry in await store.entries(OWNER)] == [mine.id]
    assert await read_all(store, "bob", theirs.id) == b"bob!"


async def test_length_over_the_maximum(store: Store) -> None:
    with pytest.raises(TooLarge):
        await store.create(OWNER, store.max_size + 1, {})
    with pytest.raises(ValueError):
        await store.create(OWNER, -1, {})
    assert await store.entries(OWNER) == []


async def test_data_past_the_declared_length_discards_the_request(store: Store) -> None:
    entry = await store.create(OWNER, 10, {})
    await store.append(OWNER, entry.id, 0, body(b"12345"))
    with pytest.raises(TooLarge):
        await store.append(OWNER, entry.id, 5, body(b"678", b"9abc"))
    assert (await store.get(OWNER, entry.id)).offset == 5
    done = await store.append(OWNER, entry.id, 5, body(b"67890"))
    assert done.complete and await read_all(store, OWNER, entry.id) == b"1234567890"


async def test_offset_mismatch_names_the_right_offset(store: Store) -> None:
    entry = await store.create(OWNER, 10, {})
    await store.append(OWNER, entry.id, 0, body(b"abc"))
    for wrong in (0, 2, 4, 10):
        with pytest.raises(OffsetMismatch) as raised:
            await store.append(OWNER, entry.id, wrong, body(b"x"))
        assert raised.value.offset == 3
    done = await store.append(OWNER, entry.id, 3, body(b"defghij"))
    with pytest.raises(OffsetMismatch) as raised:
        await store.append(OWNER, entry.id, 10, body(b"x"))
    assert done.complete and raised.value.offset == 10


async def test_concurrent_appends_one_runs_the_other_is_refused(store: Store) -> None:
    entry = await store.create(OWNER, 8, {})
    release = asyncio.Event()
    first = asyncio.create_task(
        store.append(OWNER, entry.id, 0, held_body(b"ab", release, [b"cd"]))
    )
    while (await store.get(OWNER, entry.id)).offset < 2:
        await asyncio.sleep(0)  # yields until the first append holds the upload; not a timing guess
    with pytest.raises(UploadBusy):
        await store.append(OWNER, entry.id, 2, body(b"XY"))
    with pytest.raises(UploadBusy):
        await store.terminate(OWNER, entry.id)
    release.set()
    assert (await first).offset == 4
    many = await asyncio.gather(
        *(store.append(OWNER, entry.id, 4, body(b"efgh")) for _ in range(8)), return_exceptions=True
    )
    assert sum(not isinstance(result, BaseException) for result in many) == 1
    assert all(
        isinstance(result, UploadBusy | OffsetMismatch)
        for result in many
        if isinstance(result, BaseException)
    )
    assert await read_all(store, OWNER, entry.id) == b"abcdefgh"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_checksums(store: Store, algorithm: str) -> None:
    entry = await store.create(OWNER, 6, {})
    good = Checksum(algorithm, hashlib.new(algorithm, b"abc").digest())
    assert (await store.append(OWNER, entry.id, 0, body(b"a", b"bc"), checksum=good)).offset == 3
    bad = Checksum(algorithm, hashlib.new(algorithm, b"xyz").digest())
    with pytest.raises(ChecksumMismatch):
        await store.append(OWNER, entry.id, 3, body(b"d", b"ef"), checksum=bad)
    assert (await store.get(OWNER, entry.id)).offset == 3
    with pytest.raises(BadChecksumAlgorithm):
        await store.append(OWNER, entry.id, 3, body(b"def"), checksum=Checksum("md5", b"0" * 16))
    assert (await store.append(OWNER, entry.id, 3, body(b"def"))).complete


async def test_a_client_gone_mid_body_leaves_a_resumable_upload(store: Store) -> None:
    entry = await store.create(OWNER, 9, {})
    with pytest.raises(ConnectionResetError):
        await store.append(OWNER, entry.id, 0, broken_body(b"abc", b"def"))
    assert (await store.get(OWNER, entry.id)).offset == 6
    with pytest.raises(ConnectionResetError):
        await store.append(
            OWNER,
            entry.id,
            6,
            broken_body(b"g"),
            checksum=Checksum("sha256", hashlib.sha256(b"ghi").digest()),
        )
    assert (await store.get(OWNER, entry.id)).offset == 6  # a checksummed request is all or nothing
    assert (await store.append(OWNER, entry.id, 6, body(b"ghi"))).complete


async def test_quotas_in_bytes_and_files(store: Store) -> None:
    quota = Quota(max_bytes=100, max_files=2)
    first = await store.create(OWNER, 60, {}, quota=quota)
    with pytest.raises(QuotaExceeded) as raised:
        await store.create(OWNER, 41, {}, quota=quota)
    assert raised.value.kind == "bytes"
    await store.create(OWNER, 40, {}, quota=quota)
    with pytest.raises(QuotaExceeded) as raised:
        await store.create(OWNER, 0, {}, quota=quota)
    assert raised.value.kind == "files"
    await store.create("bob", 100, {}, quota=quota)  # another owner's quota is their own
    await store.terminate(OWNER, first.id)
    await store.create(OWNER, 60, {}, quota=quota)
    racing = await asyncio.gather(
        *(store.create("carol", 30, {}, quota=Quota(max_bytes=100)) for _ in range(6)),
        return_exceptions=True,
    )
    assert sum(isinstance(result, QuotaExceeded) for result in racing) == 3


async def test_expired_uploads_vanish_and_finished_files_stay(
    store: Store, clock: Clock, root: Path
) -> None:
    stale = await store.create(OWNER, 4, {})
    await store.append(OWNER, stale.id, 0, body(b"ab"))
    kept = await store.create(OWNER, 2, {})
    await store.append(OWNER, kept.id, 0, body(b"ok"))
    clock.now += 3600.0
    with pytest.raises(NotFound):
        await store.get(OWNER, stale.id)
    with pytest.raises(NotFound):
        await store.append(OWNER, stale.id, 2, body(b"cd"))
    assert [entry.id for entry in await store.entries(OWNER)] == [kept.id]
    assert await store.expire() == [stale.id]
    assert os.listdir(root / "partial") == []
    assert await read_all(store, OWNER, kept.id) == b"ok"


async def test_terminate_removes_partial_and_finished(store: Store, root: Path) -> None:
    partial = await store.create(OWNER, 4, {})
    finished = await store.create(OWNER, 1, {})
    await store.append(OWNER, finished.id, 0, body(b"x"))
    await store.terminate(OWNER, partial.id)
    await store.terminate(OWNER, finished.id)
    assert await store.entries(OWNER) == []
    assert os.listdir(root / "partial") == [] and os.listdir(root / "files") == []


async def test_a_partial_upload_cannot_be_read(store: Store) -> None:
    entry = await store.create(OWNER, 4, {})
    await store.append(OWNER, entry.id, 0, body(b"ab"))
    with pytest.raises(NotFound):
        await store.open_file(OWNER, entry.id)


async def test_a_cancelled_append_keeps_what_arrived_and_frees_the_upload(store: Store) -> None:
    entry = await store.create(OWNER, 6, {})
    release = asyncio.Event()
    held = asyncio.create_task(
        store.append(OWNER, entry.id, 0, held_body(b"abc", release, [b"def"]))
    )
    while (await store.get(OWNER, entry.id)).offset < 3:
        await asyncio.sleep(0)  # yields until the first chunk is written; not a timing guess
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    assert (await store.get(OWNER, entry.id)).offset == 3
    assert (await store.append(OWNER, entry.id, 3, body(b"def"))).complete


def test_no_id_starts_with_a_dash() -> None:
    # autosrectl takes ids as arguments: `get -x…` would read as an option. About 1 in 64
    # draws of URL-safe base64 start with "-", so 10,000 draws would show one.
    ids = [new_id() for _ in range(10_000)]
    assert all(is_id(drawn) and not drawn.startswith("-") for drawn in ids)
    assert len(set(ids)) == len(ids)
