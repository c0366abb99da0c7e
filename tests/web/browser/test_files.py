"""The browser's saved files on a real directory: atomic saves, the count and size limits
(oldest out first), names that are ours only (fuzzed: no other name reaches the file
system), no symbolic link followed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.browser.files import NAME, BrowserFiles


async def test_saves_are_listed_read_and_kept_within_the_count(tmp_path: Path) -> None:
    files = BrowserFiles(tmp_path / "files", max_files=3, max_bytes=10**6)
    saved = [await files.save("pdf", b"%PDF-" + bytes([i]) * 10) for i in range(5)]
    assert all(NAME.fullmatch(item.name) for item in saved)
    names = [item.name for item in await files.listed()]
    assert len(names) == 3 and saved[-1].name in names
    assert (await files.read(saved[-1].name)) == (b"%PDF-" + bytes([4]) * 10, "application/pdf")
    assert oct((tmp_path / "files").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "files" / saved[-1].name).stat().st_mode & 0o777) == "0o600"
    assert not [p for p in (tmp_path / "files").iterdir() if p.name.endswith(".partial")]


async def test_the_size_limit_removes_the_oldest_but_never_the_new_one(tmp_path: Path) -> None:
    files = BrowserFiles(tmp_path, max_files=100, max_bytes=1000)
    first = await files.save("screenshot-png", b"\x89PNG" + b"a" * 500)
    second = await files.save("screenshot-jpeg", b"\xff\xd8\xff" + b"b" * 400)
    big = await files.save("pdf", b"%PDF-" + b"c" * 2000)
    listed = [item.name for item in await files.listed()]
    assert first.name not in listed and second.name not in listed and big.name in listed
    assert second.mime_type == "image/jpeg" and second.name.endswith(".jpg")


async def test_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    files = BrowserFiles(tmp_path, max_files=10, max_bytes=10**6)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    name = "pdf-20261202T031500-0123abcd.pdf"
    os.symlink(secret, tmp_path / name)
    assert await files.read(name) is None
    assert name not in [item.name for item in await files.listed()]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80) | st.sampled_from(["../secret.txt", "/etc/passwd", ".", ""]))
def test_only_our_names_are_read(name: str) -> None:
    directory = Path("/nonexistent-browser-files")
    files = BrowserFiles(directory, max_files=1, max_bytes=10**6)
    result = asyncio.run(files.read(name))
    assert result is None
