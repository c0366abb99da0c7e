"""The parent of every process-engine child: when the child goes, its process group goes too.

Run as ``python -I -S reaper.py DAEMON_PID STOP_TIMEOUT EXECUTABLE -- ARGV...`` (standard
library only: it must start in milliseconds and import nothing of the daemon's). The daemon
starts it in a new session, armed with ``PR_SET_PDEATHSIG``; it forks the command into the
same process group and waits. Why a separate parent: the kernel's death signal reaches only
the daemon's direct child, so a command wrapped in a shell (``sh -c "vllm serve … & wait"``)
lost only the shell when the daemon was SIGKILLed, and the server, re-parented to init, kept
its GPU. Now:

- the daemon stops a model by signalling the group (SIGTERM, later SIGKILL): the command and
  every member get it once, directly; this process only waits;
- when the daemon dies (its death signal arrives and the parent is no longer the daemon),
  this process sends SIGTERM to the group, and SIGKILL after STOP_TIMEOUT;
- when the command exits, whatever is left of the group, and any descendant that left the
  group (it is a child subreaper, so orphans are re-parented to it), is SIGKILLed and reaped;
  then this process exits the way the command did, so the daemon sees the command's status.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from typing import NoReturn

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
_REAP_TIMEOUT = 5.0  # a process stuck in the kernel cannot be reaped; do not wait for it forever
_EXEC_FAILED = 127


def main(args: list[str]) -> NoReturn:
    daemon, stop_timeout, executable, separator, *argv = args
    assert separator == "--" and argv, "usage: reaper.py DAEMON_PID STOP_TIMEOUT EXE -- ARGV"
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # without it, descendants that leave the group are not ours to reap
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        _exec(executable, argv, reaper=me)
    status = _wait_for_command(pid, int(daemon), float(stop_timeout))
    _kill_the_rest()
    _reap_all()
    _exit_like(status)


def _exec(executable: str, argv: list[str], *, reaper: int) -> NoReturn:
    # Should this process itself be killed (SIGKILL, the OOM killer), the command is told
    # as if the daemon had died: SIGTERM, so a server such as vLLM takes its workers along.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != reaper:
        os._exit(_EXEC_FAILED)  # it died before the death signal was armed
    # The command starts as if the daemon had started it: no blocked signals, and SIGPIPE
    # back to its default (Python ignores it, and an ignored signal stays ignored over exec).
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    try:
        os.execv(executable, argv)
    except OSError as exc:
        os.write(2, f"cannot run {executable!r}: {exc.strerror or exc}\n".encode())
    os._exit(_EXEC_FAILED)


def _wait_for_command(pid: int, daemon: int, stop_timeout: float) -> int:
    """The command's wait status; on the way, a daemon's death is passed on to the group."""
    kill_at: float | None = None
    while True:
        timeout = 3600.0 if kill_at is None else max(kill_at - time.monotonic(), 0.0)
        info = signal.sigtimedwait(_WATCHED, timeout)
        while True:
            try:
                reaped, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 0  # cannot happen while the command lives; nothing left to wait for
            if reaped == 0:
                break
            if reaped == pid:
                return status
        if kill_at is not None and time.monotonic() >= kill_at:
            os.killpg(0, signal.SIGKILL)  # this process included: nobody waits for it now
        stop = info is not None and info.si_signo in _STOP_SIGNALS
        if stop and kill_at is None and os.getppid() != daemon:
            # The daemon died without stopping the server: do it in its stead. (When the
            # daemon stops it, it signals the whole group itself; passing the signal on
            # would give the server a second SIGTERM, which some take as "exit now".)
            os.killpg(0, signal.SIGTERM)
            kill_at = time.monotonic() + stop_timeout


def _kill_the_rest() -> None:
    """SIGKILL every other member of this process group and every descendant re-parented to
    this process. Their pids cannot be reused meanwhile: an exited child stays a zombie until
    this process reaps it, which it does only afterwards."""
    me = os.getpid()
    group = os.getpgid(0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and (int(fields[2]) == group or int(fields[1]) == me):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _reap_all() -> None:
    deadline = time.monotonic() + _REAP_TIMEOUT
    while True:
        try:
            reaped, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if reaped == 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            signal.sigtimedwait({signal.SIGCHLD}, left)


def _exit_like(status: int) -> NoReturn:
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum != signal.SIGKILL:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # a signal whose default is not to terminate
    os._exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main(sys.argv[1:])
