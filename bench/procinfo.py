"""Readings from /proc: a process's memory and CPU time, and what machine this is."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (``VmRSS``, ``VmHWM``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def rss_mib(pid: int) -> float:
    return status_kib(pid, "VmRSS") / 1024.0


def peak_rss_mib(pid: int) -> float:
    return status_kib(pid, "VmHWM") / 1024.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces; the fields after it are fixed.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live process below it (a proxy's workers or helpers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(raw[raw.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far (those that have exited count as 0)."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, ValueError):
            pass
    return total


@dataclass(frozen=True)
class Machine:
    cpu_model: str
    cores: int
    python: str
    kernel: str
    aiohttp: str
    date: str


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> Machine:
    try:
        aiohttp_version = metadata.version("aiohttp")
    except metadata.PackageNotFoundError:
        aiohttp_version = "?"
    return Machine(
        cpu_model=cpu_model(),
        cores=len(os.sched_getaffinity(0)),
        python=platform.python_version(),
        kernel=platform.release(),
        aiohttp=aiohttp_version,
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def busy_cpu_seconds() -> float:
    """CPU time all processes on the machine have used so far (user, nice, system, irq,
    softirq, steal): compared with our processes' own, what else ran during a measurement."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()
