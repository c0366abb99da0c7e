"""Who is on the other end of an admin connection, and whether they may use it.

The socket's file mode is the first gate; SO_PEERCRED is the second, so a socket left 0666 by
mistake (or the umask window between bind and chmod) does not open the admin API to everyone.
Credentials are the kernel's view of the peer at connect time and cannot be forged.
"""

from __future__ import annotations

import grp
import pwd
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# struct ucred {pid_t pid; uid_t uid; gid_t gid;} -- three 32-bit ints on Linux.
_UCRED = struct.Struct("3i")


@dataclass(frozen=True)
class PeerCred:
    pid: int
    uid: int
    gid: int


class _SockOpts(Protocol):
    """What we need of a socket: asyncio hands out TransportSocket, not socket.socket."""

    def getsockopt(self, level: int, optname: int, buflen: int) -> bytes: ...


def peer_credentials(sock: _SockOpts) -> PeerCred:
    """The peer of a connected AF_UNIX socket; OSError when the socket cannot say."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCred(pid=pid, uid=uid, gid=gid)


def supplementary_groups(pid: int, *, proc: Path = Path("/proc")) -> frozenset[int]:
    """The peer process's supplementary gids from ``/proc/<pid>/status`` ("Groups:").

    These are the groups the process actually runs with (after newgrp/initgroups), which is
    what membership should mean. Empty when the process is gone or /proc is unreadable.
    """
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("Groups:"):
            return frozenset(int(g) for g in line.split()[1:] if g.isdigit())
    return frozenset()


@dataclass(frozen=True)
class PeerPolicy:
    """Allowed: root, the daemon's own uid, or a member of ``group``."""

    own_uid: int
    group: str | None
    proc: Path = Path("/proc")

    def allows(self, peer: PeerCred) -> bool:
        if peer.uid == 0 or peer.uid == self.own_uid:
            return True
        if self.group is None:
            return False
        # Looked up per connection: a user added to the group is let in without a restart.
        try:
            entry = grp.getgrnam(self.group)
        except KeyError:
            return False
        if peer.gid == entry.gr_gid:
            return True
        if entry.gr_gid in supplementary_groups(peer.pid, proc=self.proc):
            return True
        try:
            user = pwd.getpwuid(peer.uid).pw_name
        except KeyError:
            return False
        return user in entry.gr_mem
