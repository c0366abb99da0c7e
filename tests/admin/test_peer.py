"""Who may use the admin socket: the kernel's file-mode check and our SO_PEERCRED check.

The end-to-end tests fork a child that drops to nobody (and chosen groups) and speaks HTTP on
the socket, while the app serves it in this test's event loop.
"""

from __future__ import annotations

import asyncio
import errno
import grp
import json
import logging
import os
import pwd
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autosred.admin.peercred import PeerCred, PeerPolicy, supplementary_groups

from .fake_control import FakeControl
from .support import Served, serve

NOBODY = 65534
root_only = pytest.mark.skipif(
    os.geteuid() != 0, reason="dropping to another uid and group needs root"
)


@dataclass(frozen=True)
class Outcome:
    errno: int | None = None
    status: int | None = None
    body: Any = None
    pid: int = 0


def _request_in_child(path: Path) -> dict[str, Any]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError as exc:
        return {"errno": exc.errno}
    sock.sendall(b"GET /v1/status HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return {"status": int(head.split()[1]), "body": json.loads(body)}


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return data


async def request_as(path: Path, *, uid: int, gid: int, groups: Sequence[int] = ()) -> Outcome:
    """GET /v1/status from a forked child running as uid/gid with these supplementary groups."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no event loop, no pytest, only syscalls, then _exit
        code = 1
        try:
            os.close(read_end)
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            os.write(write_end, json.dumps(_request_in_child(path)).encode())
            code = 0
        except BaseException as exc:
            os.write(write_end, json.dumps({"crash": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    loop = asyncio.get_running_loop()
    # Read in a thread: the loop must stay free to serve the child's request.
    raw = await loop.run_in_executor(None, _read_all, read_end)
    _, wait_status = await loop.run_in_executor(None, os.waitpid, pid, 0)
    result = json.loads(raw)
    assert "crash" not in result, result["crash"]
    assert os.waitstatus_to_exitcode(wait_status) == 0
    return Outcome(
        errno=result.get("errno"), status=result.get("status"), body=result.get("body"), pid=pid
    )


def _group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pytest.skip(f"group {name!r} does not exist here")


@root_only
async def test_nobody_is_refused_by_the_kernel_on_the_0660_socket(served: Served) -> None:
    outcome = await request_as(served.path, uid=NOBODY, gid=NOBODY)
    assert outcome.errno == errno.EACCES


@root_only
async def test_nobody_gets_403_from_the_peer_check_when_the_socket_is_open(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    served.path.chmod(0o666)  # a mistake in deployment: the peer check must still hold
    with caplog.at_level(logging.WARNING, logger="tests.admin"):
        outcome = await request_as(served.path, uid=NOBODY, gid=NOBODY)
    assert outcome.status == 403
    assert outcome.body["error"]["type"] == "forbidden"
    assert "uid 65534" in outcome.body["error"]["message"]
    refused = [r for r in caplog.records if r.msg == "admin.peer_refused"]
    assert len(refused) == 1
    fields = refused[0].__dict__["fields"]
    assert (fields["uid"], fields["pid"]) == (NOBODY, outcome.pid)


@root_only
async def test_a_supplementary_member_of_the_allowed_group_is_let_in(fake: FakeControl) -> None:
    users = _group("users")
    async with serve(fake, allowed_group="users", group="users") as served:
        # 0660 root:users: the kernel lets the group in, then SO_PEERCRED + /proc agree.
        outcome = await request_as(served.path, uid=NOBODY, gid=NOBODY, groups=[users])
        assert outcome.status == 200
        assert outcome.body["version"] == "0.0.0-fake"
        outsider = await request_as(served.path, uid=NOBODY, gid=NOBODY)
        assert outsider.errno == errno.EACCES


@root_only
async def test_a_primary_member_of_the_allowed_group_is_let_in(fake: FakeControl) -> None:
    users = _group("users")
    async with serve(fake, allowed_group="users", group="users") as served:
        outcome = await request_as(served.path, uid=NOBODY, gid=users)
        assert outcome.status == 200


@root_only
async def test_group_access_needs_the_group_allowed_not_only_the_socket_mode(
    fake: FakeControl,
) -> None:
    users = _group("users")
    async with serve(fake, allowed_group=None, group="users") as served:
        outcome = await request_as(served.path, uid=NOBODY, gid=NOBODY, groups=[users])
        assert outcome.status == 403


# --- the policy on its own -----------------------------------------------------------------


def test_supplementary_groups_come_from_proc_status(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "status").write_text("Name:\tx\nUid:\t1000\nGroups:\t4 27 100 \nNgid:\t0\n")
    assert supplementary_groups(42, proc=tmp_path) == {4, 27, 100}
    assert supplementary_groups(43, proc=tmp_path) == frozenset(), "a process that is gone"


def test_root_and_the_daemons_own_uid_are_allowed_without_a_group(tmp_path: Path) -> None:
    policy = PeerPolicy(own_uid=1234, group=None, proc=tmp_path)
    assert policy.allows(PeerCred(pid=1, uid=0, gid=0))
    assert policy.allows(PeerCred(pid=1, uid=1234, gid=5))
    assert not policy.allows(PeerCred(pid=1, uid=1235, gid=5))


def test_membership_by_the_groups_member_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /etc/group is an OS edge: stand in for an entry listing the user as a member.
    entry = grp.struct_group(("autosre", "x", 4242, ["alice"]))
    alice = pwd.struct_passwd(("alice", "x", 1001, 1001, "", "/home/alice", "/bin/sh"))
    monkeypatch.setattr(grp, "getgrnam", lambda name: entry if name == "autosre" else None)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: alice if uid == 1001 else _no_user(uid))
    policy = PeerPolicy(own_uid=999, group="autosre", proc=tmp_path)
    assert policy.allows(PeerCred(pid=7, uid=1001, gid=1001))
    assert not policy.allows(PeerCred(pid=7, uid=1002, gid=1002))


def _no_user(uid: int) -> pwd.struct_passwd:
    raise KeyError(uid)
