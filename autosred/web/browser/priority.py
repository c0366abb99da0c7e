"""The browser yields the CPU to the model streams.

A browsing agent's clicks are worth less than the tokens of every stream beside them: on a
host whose cores are all busy, Playwright's driver and Chromium (together most of a core
while a session clicks and reads, BENCHMARKS.md, *The MCP browser tools*) would otherwise
take their full share from the daemon and the model server. So the driver, a child of the
daemon, runs at ``mcp.browser.nice``; a Chromium it launches inherits that.

Linux keeps a nice value per thread, so every thread of the driver is lowered, not only its
first one; threads and processes it creates later inherit from the thread that creates them.
A priority is only ever lowered here: raising it back needs a privilege the daemon's unit
does not have (``CapabilityBoundingSet=`` empty), and which Chromium started as root does
have, which is why a root Chromium can still raise its own threads (a development setup, not
the unit's).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_PROC = Path("/proc")


def _parent_of(stat: str) -> int:
    # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after its
    # last ")".
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def children_running(executable_dir: Path, *, parent: int | None = None) -> list[int]:
    """The pids of ``parent``'s (default: this process's) direct children whose executable
    lies under ``executable_dir``."""
    parent = os.getpid() if parent is None else parent
    root = str(executable_dir.resolve()) + os.sep
    found: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        # A process may end between the listing and the reads: it is then no child of ours.
        with contextlib.suppress(OSError, ValueError, IndexError):
            if _parent_of((entry / "stat").read_text()) != parent:
                continue
            if os.path.realpath(entry / "exe").startswith(root):
                found.append(int(entry.name))
    return found


def lower_priority(pid: int, nice: int) -> int:
    """Lower every thread of ``pid`` to at least ``nice`` (never raise one); how many
    threads were changed. A thread that ended meanwhile is skipped."""
    changed = 0
    try:
        threads = [int(name) for name in os.listdir(_PROC / str(pid) / "task")]
    except FileNotFoundError:
        return 0
    for tid in threads:
        with contextlib.suppress(ProcessLookupError):
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                changed += 1
    return changed
