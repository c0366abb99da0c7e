"""serve_unix: where the socket goes, its mode and group, stale and live sockets."""

from __future__ import annotations

import errno
import grp
import logging
import os
import socket
import stat

import pytest

from autosred.admin.app import make_app, serve_unix

from .fake_control import FakeControl
from .support import LOG, Served, serve, short_dir


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a socket's group to one we are not in needs root")


async def test_socket_is_created_0660_in_a_new_directory(served: Served) -> None:
    st = served.path.lstat()
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert stat.S_IMODE(served.path.parent.stat().st_mode) == 0o755


async def test_cleanup_removes_the_socket(fake: FakeControl) -> None:
    async with serve(fake) as served:
        path = served.path
        assert path.exists()
    assert not path.exists()


async def test_socket_group_is_set_when_the_group_exists(fake: FakeControl) -> None:
    _needs_root()
    async with serve(fake, group="nogroup") as served:
        assert served.path.lstat().st_gid == grp.getgrnam("nogroup").gr_gid


async def test_missing_group_keeps_the_daemons_gid_and_says_so(
    fake: FakeControl, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tests.admin"):
        async with serve(fake, group="no-such-group-autosred") as served:
            assert served.path.lstat().st_gid == os.getegid()
    assert "admin.socket_group_missing" in [r.msg for r in caplog.records]


async def test_a_stale_socket_is_replaced(fake: FakeControl) -> None:
    async with short_dir() as directory:
        path = directory / "admin.sock"
        # A socket file nobody listens on: what a killed daemon leaves behind.
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dead.bind(str(path))
        dead.close()
        app = make_app(control=fake, allowed_group=None, log=LOG)
        runner = await serve_unix(app, path, group=None, log=LOG)
        try:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.connect(str(path))  # would be ECONNREFUSED on the stale file
            probe.close()
        finally:
            await runner.cleanup()


async def test_a_live_socket_is_not_taken_over(served: Served, fake: FakeControl) -> None:
    app = make_app(control=fake, allowed_group=None, log=LOG)
    with pytest.raises(OSError) as caught:
        await serve_unix(app, served.path, group=None, log=LOG)
    assert caught.value.errno == errno.EADDRINUSE
    assert served.path.exists(), "the running daemon keeps its socket"


async def test_a_file_that_is_not_a_socket_is_left_alone(fake: FakeControl) -> None:
    async with short_dir() as directory:
        path = directory / "admin.sock"
        path.write_text("precious")
        app = make_app(control=fake, allowed_group=None, log=LOG)
        with pytest.raises(FileExistsError):
            await serve_unix(app, path, group=None, log=LOG)
        assert path.read_text() == "precious"


async def test_a_parent_owned_by_someone_else_is_refused(fake: FakeControl) -> None:
    _needs_root()
    async with short_dir() as directory:
        os.chown(directory, 65534, 65534)
        app = make_app(control=fake, allowed_group=None, log=LOG)
        with pytest.raises(PermissionError, match="belongs to uid 65534"):
            await serve_unix(app, directory / "admin.sock", group=None, log=LOG)
