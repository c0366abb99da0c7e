"""Serving the admin app on a Unix socket with the right owner and mode."""

from __future__ import annotations

import errno
import grp
import logging
import os
import socket
import stat
from pathlib import Path

from aiohttp import web

_log = logging.getLogger("autosred.admin")


class UnixAppRunner(web.AppRunner):
    """An AppRunner that also removes its socket file on cleanup.

    asyncio (before 3.13) leaves the file behind; a later client would then get "connection
    refused" instead of the clearer "no such file". Only our own socket is removed (same
    inode), never one a newer daemon has bound since.
    """

    def __init__(self, app: web.Application, path: Path) -> None:
        # Admin requests are short, and scale streams end at shutdown (see app._end_streams): a
        # handler still running after a few seconds is stuck, not worth delaying a stop for.
        super().__init__(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
        self.path = path
        self._inode: int | None = None

    def note_bound(self) -> None:
        """Remember which file is ours, right after bind."""
        self._inode = self.path.lstat().st_ino

    async def cleanup(self) -> None:
        await super().cleanup()
        if self._inode is None:
            return
        try:
            if self.path.lstat().st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass


async def serve_unix(
    app: web.Application,
    path: Path,
    *,
    mode: int = 0o660,
    group: str | None,
    log: logging.Logger | None = None,
) -> UnixAppRunner:
    """Serve ``app`` on the Unix socket ``path``; ``await runner.cleanup()`` stops it.

    Creates the parent directory when missing, replaces a stale socket (refuses to replace a
    live one or a non-socket file), then sets ``mode`` and, when ``group`` exists, the group.
    The mode is set right after bind; the SO_PEERCRED check covers that short window.
    """
    log = log or _log
    _prepare_parent(path.parent)
    _remove_stale(path)
    runner = UnixAppRunner(app, path)
    await runner.setup()
    try:
        site = web.UnixSite(runner, str(path))
        await site.start()
        runner.note_bound()
        os.chmod(path, mode)
        _set_group(path, group, log)
    except BaseException:
        await runner.cleanup()
        raise
    log.info(
        "admin.listening",
        extra={"fields": {"path": str(path), "mode": oct(mode), "group": group}},
    )
    return runner


def _prepare_parent(directory: Path) -> None:
    # 0755: members of the admin group must be able to reach the socket; the socket's own mode
    # is what restricts access.
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    owner = directory.stat().st_uid
    # In a shared directory such as /tmp, someone else could have made this directory first and
    # would then control what our clients connect to.
    if owner not in (0, os.geteuid()):
        raise PermissionError(
            errno.EPERM, f"{directory} belongs to uid {owner}, not to this daemon's user"
        )


def _remove_stale(path: Path) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(errno.EEXIST, f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)  # nobody listens: left behind by a daemon that died
        return
    finally:
        probe.close()
    raise OSError(
        errno.EADDRINUSE, f"another process is serving {path} (a daemon already running?)"
    )


def _set_group(path: Path, group: str | None, log: logging.Logger) -> None:
    if group is None:
        return
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        log.warning(
            "admin.socket_group_missing", extra={"fields": {"group": group, "path": str(path)}}
        )
        return
    if path.stat().st_gid == gid:
        # Already right (systemd's Group=autosre): no chown, which the unit's syscall filter
        # would refuse anyway.
        return
    try:
        os.chown(path, -1, gid)
    except PermissionError as exc:
        # Not root and not a member: the socket keeps the daemon's gid, group members are out.
        log.warning(
            "admin.socket_chown_failed",
            extra={"fields": {"group": group, "path": str(path), "error": exc.strerror}},
        )
