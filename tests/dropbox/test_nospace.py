"""A full file system: creation refused by statvfs, ENOSPC mid-write reported at the exact
durable offset, the upload resumable once space is back. Runs on a real 1 MiB tmpfs."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from autosred.dropbox.storage import InsufficientSpace, Store
from tests.dropbox.conftest import Clock
from tests.dropbox.support import body

OWNER = "alice"
CHUNK = 64 << 10


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.fail(
            "the ENOSPC test needs a 1 MiB tmpfs and could not mount one (it needs root or "
            f"CAP_SYS_ADMIN, as CI has): {mounted.stderr.strip()}"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def chunks_of(data: bytes) -> list[bytes]:
    return [data[start : start + CHUNK] for start in range(0, len(data), CHUNK)]


async def test_enospc_mid_write_reports_the_durable_offset(small_fs: Path, clock: Clock) -> None:
    store = await Store.open(small_fs / "dropbox", max_size=8 << 20, min_free=0, clock=clock)
    try:
        with pytest.raises(InsufficientSpace) as refused:
            await store.create(OWNER, 2 << 20, {})
        assert refused.value.offset == 0 and await store.entries(OWNER) == []
        first_data, second_data = os.urandom(600_000), os.urandom(600_000)
        first = await store.create(OWNER, len(first_data), {})
        second = await store.create(OWNER, len(second_data), {})  # both fit when created
        assert (await store.append(OWNER, first.id, 0, body(*chunks_of(first_data)))).complete
        with pytest.raises(InsufficientSpace) as full:
            await store.append(OWNER, second.id, 0, body(*chunks_of(second_data)))
        durable = full.value.offset
        assert 0 < durable < len(second_data)
        assert (await store.get(OWNER, second.id)).offset == durable
        on_disk = (small_fs / "dropbox" / "partial" / second.id / "data").read_bytes()
        assert on_disk == second_data[:durable]
        await store.terminate(OWNER, first.id)
        done = await store.append(
            OWNER, second.id, durable, body(*chunks_of(second_data[durable:]))
        )
        assert done.complete and done.sha256 == hashlib.sha256(second_data).hexdigest()
    finally:
        await store.close()
