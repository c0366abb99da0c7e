"""The thinking-signature key: created 0600 once, the same after a restart, never half-written."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from autosred.daemon.keys import KEY_FILE, thinking_key
from autosred.daemon.statemodes import state_mode_problems

LOG = logging.getLogger("test.keys")


def test_created_0600_in_a_new_state_dir_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "state" / "nested"
    key = thinking_key(state, log=LOG)
    path = state / KEY_FILE
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert thinking_key(state, log=LOG) == key  # a restart reads the same key
    assert [p.name for p in state.iterdir()] == [KEY_FILE]  # no temporary file left


def test_a_corrupt_file_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / KEY_FILE).write_text("not hex at all\n")
    with caplog.at_level(logging.WARNING):
        key = thinking_key(tmp_path, log=LOG)
    assert "daemon.key_invalid" in caplog.text
    assert bytes.fromhex((tmp_path / KEY_FILE).read_text()) == key


def test_loose_permissions_are_refused_at_start(tmp_path: Path) -> None:
    """Reading such a key would let anyone who can read it forge signatures: the daemon's
    start check refuses it (tests/hardening/test_refusals.py runs the daemon on it)."""
    path = tmp_path / KEY_FILE
    path.write_text("ab" * 32)
    path.chmod(0o644)
    assert state_mode_problems(tmp_path) == [
        f"state_dir: {path} is readable or writable by others (mode 0644), who could forge "
        f"thinking signatures with it: chmod 0600 {path}"
    ]
    path.chmod(0o600)
    assert state_mode_problems(tmp_path) == []
    assert thinking_key(tmp_path, log=LOG) == bytes.fromhex("ab" * 32)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_state_dir_gives_a_key_for_this_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tmp_path.chmod(0o500)
    try:
        with caplog.at_level(logging.WARNING):
            first = thinking_key(tmp_path / "state", log=LOG)
        assert len(first) == 32
        assert "daemon.key_unwritable" in caplog.text
    finally:
        tmp_path.chmod(0o700)


def test_a_file_that_is_not_a_file_gives_a_key_for_this_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / KEY_FILE).mkdir()
    with caplog.at_level(logging.WARNING):
        assert len(thinking_key(tmp_path, log=LOG)) == 32
    assert "daemon.key_unreadable" in caplog.text
