"""Symlinks (and other things) planted in the storage directory are refused, never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autosred.dropbox.storage import NotFound, Store, UnsafeStorage
from tests.dropbox.conftest import Clock
from tests.dropbox.support import body

OWNER = "alice"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the root with a file an attacker would like overwritten."""
    place = tmp_path / "outside"
    place.mkdir()
    (place / "victim").write_bytes(b"precious")
    return place


@pytest.mark.parametrize("part", ["partial", "files"])
async def test_a_storage_directory_replaced_by_a_link_is_refused(
    root: Path, outside: Path, clock: Clock, part: str
) -> None:
    root.mkdir()
    (root / part).symlink_to(outside)
    with pytest.raises(UnsafeStorage):
        await Store.open(root, max_size=100, min_free=0, clock=clock)
    assert sorted(os.listdir(outside)) == ["victim"]


async def test_a_link_planted_as_an_upload_is_not_followed(
    store: Store, root: Path, outside: Path
) -> None:
    real = await store.create(OWNER, 3, {})
    planted = real.id[::-1] if real.id[::-1] != real.id else real.id[1:] + "A"
    (root / "partial" / planted).symlink_to(outside)
    (root / "files" / planted).symlink_to(outside)
    with pytest.raises(NotFound):
        await store.get(OWNER, planted)
    with pytest.raises(NotFound):
        await store.append(OWNER, planted, 0, body(b"abc"))
    with pytest.raises(NotFound):
        await store.open_file(OWNER, planted)
    assert [entry.id for entry in await store.entries(OWNER)] == [real.id]
    assert (
        sorted(os.listdir(outside)) == ["victim"]
        and (outside / "victim").read_bytes() == b"precious"
    )


@pytest.mark.parametrize("entry_name", ["data", "meta.json"])
async def test_a_link_planted_inside_an_upload_is_not_followed(
    store: Store, root: Path, outside: Path, entry_name: str
) -> None:
    entry = await store.create(OWNER, 3, {})
    planted = root / "partial" / entry.id / entry_name
    planted.unlink()
    planted.symlink_to(outside / "victim")
    with pytest.raises((UnsafeStorage, NotFound)):
        await store.append(OWNER, entry.id, 0, body(b"abc"))
    assert (outside / "victim").read_bytes() == b"precious"
    # The tampered upload is gone for its owner (uniformly not found), the link left unread.
    with pytest.raises(NotFound):
        await store.get(OWNER, entry.id)
    assert await store.entries(OWNER) == []


async def test_a_fifo_planted_as_data_cannot_hang_the_store(store: Store, root: Path) -> None:
    entry = await store.create(OWNER, 3, {})
    data = root / "partial" / entry.id / "data"
    data.unlink()
    os.mkfifo(data)
    with pytest.raises((UnsafeStorage, NotFound)):
        await store.append(OWNER, entry.id, 0, body(b"abc"))


async def test_a_link_planted_as_a_finished_files_data_is_not_read(
    store: Store, root: Path, outside: Path
) -> None:
    entry = await store.create(OWNER, 3, {})
    await store.append(OWNER, entry.id, 0, body(b"abc"))
    data = root / "files" / entry.id / "data"
    data.unlink()
    data.symlink_to(outside / "victim")
    with pytest.raises(UnsafeStorage):
        await store.open_file(OWNER, entry.id)


async def test_reopening_clears_half_made_uploads_and_tolerates_planted_links(
    root: Path, outside: Path, clock: Clock
) -> None:
    store = await Store.open(root, max_size=100, min_free=0, clock=clock)
    kept = await store.create(OWNER, 3, {})
    await store.close()
    (root / "partial" / ".new-halfmade").mkdir()
    (root / "partial" / ".new-halfmade" / "data").write_bytes(b"x")
    (root / "partial" / ".del-leftover").symlink_to(outside)
    (root / "partial" / ("L" * 32)).symlink_to(outside)
    reopened = await Store.open(root, max_size=100, min_free=0, clock=clock)
    try:
        assert sorted(os.listdir(root / "partial")) == sorted([kept.id, "L" * 32])
        assert [entry.id for entry in await reopened.entries(OWNER)] == [kept.id]
    finally:
        await reopened.close()
    assert sorted(os.listdir(outside)) == ["victim"]
