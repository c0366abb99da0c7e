"""The early writeback of upload data (storage/writeback.py) is the kernel's own call on
Linux, and a call it refuses changes nothing: the fsync after it still makes the data durable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autosred.dropbox.storage import writeback


def test_on_linux_the_writeback_is_started_by_the_c_library() -> None:
    assert sys.platform == "linux"
    assert writeback.start_writeback is not writeback._no_writeback


def test_starting_a_writeback_leaves_the_data_as_written(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    fd = os.open(tmp_path / "data", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, data, 0)
        writeback.start_writeback(fd, 0, len(data))
        writeback.start_writeback(fd, len(data), 1 << 20)  # past the end: nothing to write
        os.fsync(fd)
        assert os.pread(fd, len(data) + 1, 0) == data
    finally:
        os.close(fd)
    writeback.start_writeback(fd, 0, 1)  # a closed fd: EBADF, which only skips the start
