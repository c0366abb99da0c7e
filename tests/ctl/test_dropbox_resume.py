"""The pieces of `autosrectl dropbox put|get` that need no dropbox: where a put's resume state
lives and what counts as the same file, and the fingerprint spelling the pin compares."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autosred.ctl.dropboxresume import KEEP_SECONDS, FileKey, ResumeState, cache_dir
from autosred.ctl.dropboxtls import colon_fingerprint, normalise_fingerprint

DROPBOX = colon_fingerprint(b"one dropbox")
OTHER = colon_fingerprint(b"another dropbox")


def test_the_cache_dir_is_xdgs_else_home_dot_cache() -> None:
    assert cache_dir({"XDG_CACHE_HOME": "/x/cache", "HOME": "/h"}) == Path("/x/cache/autosred")
    assert cache_dir({"HOME": "/h"}) == Path("/h/.cache/autosred")
    # A relative XDG_CACHE_HOME is invalid by the spec and ignored.
    assert cache_dir({"XDG_CACHE_HOME": "rel", "HOME": "/h"}) == Path("/h/.cache/autosred")


def test_an_upload_is_found_again_for_the_same_file_on_the_same_dropbox(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 10)
    state = ResumeState(tmp_path / "cache")
    key = FileKey.of(data)
    assert state.find(DROPBOX, key) is None
    state.remember(DROPBOX, key, "https://127.0.0.1:8443/files/abc")
    assert ResumeState(tmp_path / "cache").find(DROPBOX, key) == "https://127.0.0.1:8443/files/abc"
    assert state.find(OTHER, key) is None
    mode = stat.S_IMODE(state.path.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(state.directory.stat().st_mode) == 0o700
    state.forget(DROPBOX, key)
    assert state.find(DROPBOX, key) is None


def test_a_changed_file_is_another_upload(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 10)
    state = ResumeState(tmp_path / "cache")
    before = FileKey.of(data)
    state.remember(DROPBOX, before, "https://h/files/one")
    data.write_bytes(b"y" * 11)
    assert state.find(DROPBOX, FileKey.of(data)) is None
    os.utime(data, ns=(before.mtime_ns, before.mtime_ns))
    data.write_bytes(b"y" * 10)  # same size, new mtime
    assert state.find(DROPBOX, FileKey.of(data)) is None


def test_the_path_is_absolute_whatever_the_caller_gave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "f").write_bytes(b"1")
    monkeypatch.chdir(tmp_path)
    assert FileKey.of(Path("f")) == FileKey.of(tmp_path / "f")
    assert FileKey.of(Path("f")).path == str(tmp_path / "f")


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'{"uploads": 3}', b'{"uploads": [1, "x", null]}', b"\xff\xfe"],
)
def test_an_unreadable_state_costs_only_the_resume(tmp_path: Path, content: bytes) -> None:
    state = ResumeState(tmp_path)
    state.path.write_bytes(content)
    key = FileKey(path="/f", size=1, mtime_ns=1)
    assert state.find(DROPBOX, key) is None
    state.remember(DROPBOX, key, "https://h/files/a")
    assert state.find(DROPBOX, key) == "https://h/files/a"


def test_old_entries_are_dropped_on_the_next_write(tmp_path: Path) -> None:
    state = ResumeState(tmp_path)
    stale = {"dropbox": DROPBOX, "path": "/old", "size": 1, "mtime_ns": 1, "url": "u", "at": 1.0}
    state.path.write_text(json.dumps({"version": 1, "uploads": [stale]}))
    assert state.find(DROPBOX, FileKey(path="/old", size=1, mtime_ns=1)) == "u"
    state.remember(DROPBOX, FileKey(path="/new", size=1, mtime_ns=1), "v")
    kept = json.loads(state.path.read_text())["uploads"]
    assert [e["path"] for e in kept] == ["/new"]
    assert KEEP_SECONDS >= 7 * 24 * 3600


@given(st.text(max_size=80))
def test_a_fingerprint_is_either_normalised_or_refused(text: str) -> None:
    try:
        spelled = normalise_fingerprint(text)
    except ValueError:
        return
    assert len(spelled) == 95
    assert spelled == normalise_fingerprint(spelled.lower().replace(":", ""))


def test_fingerprints_are_compared_in_the_admin_apis_spelling() -> None:
    spelled = colon_fingerprint(b"not really a certificate")
    assert normalise_fingerprint(spelled.replace(":", "").lower()) == spelled
    for bad in ("", "AB:CD", "Z" * 64, spelled + ":00"):
        with pytest.raises(ValueError):
            normalise_fingerprint(bad)
