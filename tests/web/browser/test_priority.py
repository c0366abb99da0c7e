"""The browser's processes are lowered to ``mcp.browser.nice``: found among this process's
children by their executable, every thread lowered, none ever raised."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from autosred.web.browser.priority import children_running, lower_priority

# A child with three threads that waits for its stdin to close.
CHILD = """
import sys, threading
for _ in range(2):
    threading.Thread(target=sys.stdin.read, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    yield process
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)


def thread_nice(pid: int) -> dict[int, int]:
    return {
        int(tid): os.getpriority(os.PRIO_PROCESS, int(tid))
        for tid in os.listdir(f"/proc/{pid}/task")
    }


def test_a_child_is_found_by_its_executable(child: subprocess.Popen[str]) -> None:
    python_dir = Path(os.path.realpath(sys.executable)).parent
    assert child.pid in children_running(python_dir)
    assert child.pid not in children_running(python_dir / "elsewhere")
    # Only direct children of the given parent.
    assert child.pid not in children_running(python_dir, parent=child.pid)


def test_every_thread_is_lowered_and_none_raised(child: subprocess.Popen[str]) -> None:
    before = thread_nice(child.pid)
    assert len(before) == 3
    assert lower_priority(child.pid, 7) == sum(1 for nice in before.values() if nice < 7)
    assert set(thread_nice(child.pid).values()) == {max(7, min(before.values()))}
    # Asking for a higher priority changes nothing: a priority is only ever lowered.
    assert lower_priority(child.pid, 3) == 0
    assert set(thread_nice(child.pid).values()) == {max(7, min(before.values()))}
    # This process itself is left as it was.
    assert os.getpriority(os.PRIO_PROCESS, 0) == min(before.values())


def test_a_process_that_ended_is_skipped() -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert lower_priority(int(gone.stdout), 5) == 0
