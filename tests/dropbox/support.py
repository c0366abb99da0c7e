"""Helpers the dropbox storage tests share: bodies as async chunk streams, tree snapshots."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def held_body(
    first: bytes, release: asyncio.Event, rest: Iterable[bytes] = ()
) -> AsyncIterator[bytes]:
    """A body that sends `first`, then waits until `release` is set (a slow client)."""
    yield first
    await release.wait()
    for chunk in rest:
        yield chunk


async def broken_body(*chunks: bytes) -> AsyncIterator[bytes]:
    """A body whose client goes away after `chunks`."""
    for chunk in chunks:
        yield chunk
    raise ConnectionResetError("the client went away")


def tree(top: Path) -> dict[str, bytes | str]:
    """Every entry under top: a file's bytes, a link's target, a directory as 'dir'."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            key = str(path.relative_to(top))
            if path.is_symlink():
                found[key] = "link:" + os.readlink(path)
            elif path.is_dir():
                found[key] = "dir"
            else:
                found[key] = path.read_bytes()
    return found
