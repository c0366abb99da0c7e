"""The ``watch`` part of ``python -m bench.run``: what one `autosrectl watch` costs the daemon.

A daemon of its own (the process engine running autosred-sim as its child, so that frames
carry everything they can without a GPU: the model's state, the request ring, connections, the
model server's figures from its /metrics and its last output lines; the model ready, no
requests) idles through windows of a fixed length, in turns without and with one watcher
attached: the real ``autosrectl --socket S watch --interval 1``, its frames printed into a
pipe this process reads (the daemon's side of a live view on a terminal is the same stream).
The daemon's CPU over each window is read from ``/proc/<pid>/stat`` (user + system, in clock
ticks of 10 ms), so the figure is the watcher's cost in the same run, beside the daemon's own
idle baseline; the target is under 1 % of a core at one frame a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ctl import ctl_executable
from bench.daemon import MODEL, SERVED, Daemon, running_daemon, running_sim
from bench.kube import run_time_ms
from bench.procinfo import cpu_seconds

TARGET_PERCENT = 1.0
INTERVAL = 1.0
SETTLE = 2.0
"""Seconds after start-up (and after a watcher attaches) before a window opens."""


PROCESS_ENGINE: dict[str, Any] = {
    "engine": {"kind": "process", "stop_timeout": 5},
    "recipes": [
        {
            "name": MODEL,
            "served_model_name": SERVED,
            "command": [
                sys.executable,
                "-m",
                "autosred.sim",
                "--host",
                "{host}",
                "--port",
                "{port}",
                "--model",
                "{served_model_name}",
            ],
            "idle_timeout": "1h",
            "wake_budget": "60s",
        }
    ],
}


@dataclass(frozen=True)
class WatchSettings:
    window: float = 20.0
    rounds: int = 3


FULL = WatchSettings()
QUICK = WatchSettings(window=8.0, rounds=1)


@dataclass(frozen=True)
class Window:
    watcher: bool
    seconds: float
    daemon_cpu: float
    daemon_run_ms: float | None = None
    """The same to the nanosecond (the scheduler's run time of every thread), where the
    kernel has it."""
    watcher_cpu: float = 0.0
    frames: int = 0


@dataclass
class WatchFigures:
    settings: WatchSettings
    windows: list[Window] = field(default_factory=list)
    command: str = ""
    carried: str = ""
    """What a frame held: whether the model server's figures (its /metrics read by the
    daemon) and its output lines were there."""
    elapsed: float = 0.0

    def percent(self, watcher: bool, cpu: Callable[[Window], float]) -> float:
        """CPU over the windows with (or without) a watcher, in % of one core."""
        windows = [w for w in self.windows if w.watcher == watcher]
        seconds = sum(w.seconds for w in windows)
        return 100.0 * sum(cpu(w) for w in windows) / seconds if seconds else float("nan")

    @property
    def daemon_without(self) -> float:
        return self.percent(False, lambda w: w.daemon_cpu)

    @property
    def daemon_with(self) -> float:
        return self.percent(True, lambda w: w.daemon_cpu)

    @property
    def added(self) -> float:
        return self.daemon_with - self.daemon_without

    @property
    def precise(self) -> bool:
        return all(w.daemon_run_ms is not None for w in self.windows)

    def precise_percent(self, watcher: bool) -> float:
        return self.percent(watcher, lambda w: (w.daemon_run_ms or 0.0) / 1000.0)


class Watcher:
    """``autosrectl watch`` printing into a pipe; a thread reads it and counts the frames."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        self.frames = 0
        self._first = threading.Event()
        self._reader = threading.Thread(target=self._read, name="bench-watch-reader")
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(b"autosred "):  # each frame's title line
                self.frames += 1
                self._first.set()

    def wait_first_frame(self, timeout: float = 30.0) -> None:
        if not self._first.wait(timeout):
            raise RuntimeError(f"autosrectl watch printed no frame in {timeout:g} s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)


def _window(daemon: Daemon, seconds: float, watcher: Watcher | None) -> Window:
    frames0 = watcher.frames if watcher else 0
    client0 = cpu_seconds(watcher.process.pid) if watcher else 0.0
    cpu0, run0 = cpu_seconds(daemon.pid), run_time_ms(daemon.pid)
    started = time.monotonic()
    time.sleep(seconds)
    cpu1, run1 = cpu_seconds(daemon.pid), run_time_ms(daemon.pid)
    elapsed = time.monotonic() - started
    run = None if run0 is None or run1 is None else run1 - run0
    if watcher is None:
        return Window(watcher=False, seconds=elapsed, daemon_cpu=cpu1 - cpu0, daemon_run_ms=run)
    return Window(
        watcher=True,
        seconds=elapsed,
        daemon_cpu=cpu1 - cpu0,
        daemon_run_ms=run,
        watcher_cpu=cpu_seconds(watcher.process.pid) - client0,
        frames=watcher.frames - frames0,
    )


def _carried(argv: list[str]) -> str:
    once = subprocess.run(
        [*argv, "--once", "--json"], capture_output=True, check=True, timeout=30
    ).stdout
    frame = json.loads(once.splitlines()[-1])["frame"]
    server = any(model.get("server") for model in frame["models"])
    return (
        f"A frame carried {'the' if server else 'no'} model server's figures (its `/metrics`, "
        f"read by the daemon) and {len(frame.get('log', []))} of its output lines."
    )


def measure(
    workdir: Path, *, quick: bool = False, progress: Callable[[str], None] = print
) -> WatchFigures:
    settings = QUICK if quick else FULL
    figures = WatchFigures(settings=settings)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    # running_sim's simulator only stands in for the static engine's URL in the base config;
    # the process engine below starts the one the daemon serves.
    with (
        running_sim(workdir) as sim,
        running_daemon(workdir, sim, sections=PROCESS_ENGINE, models_ready=False) as daemon,
    ):
        ctl, shown = ctl_executable(workdir)
        socket = ["--socket", str(daemon.admin_socket)]
        subprocess.run([*ctl, *socket, "scale", "up", MODEL, "--wait"], check=True, timeout=60)
        argv = [*ctl, *socket, "watch"]
        watch = [*argv, "--interval", f"{INTERVAL:g}"]
        figures.command = f"{shown} --socket $BENCH_DIR/admin.sock watch --interval {INTERVAL:g}"
        figures.carried = _carried(argv)
        time.sleep(SETTLE)
        for round_ in range(settings.rounds):
            progress(
                f"watch: round {round_ + 1}/{settings.rounds}, {settings.window:g} s without "
                "a watcher, then with one"
            )
            figures.windows.append(_window(daemon, settings.window, None))
            watcher = Watcher(watch)
            try:
                watcher.wait_first_frame()
                time.sleep(SETTLE)
                figures.windows.append(_window(daemon, settings.window, watcher))
            finally:
                watcher.stop()
    figures.elapsed = time.monotonic() - started
    return figures


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def section(figures: WatchFigures | None) -> list[str]:
    if figures is None:
        return []
    s = figures.settings
    watched = [w for w in figures.windows if w.watcher]
    frames = sum(w.frames for w in watched)
    seconds = sum(w.seconds for w in watched)
    client = figures.percent(True, lambda w: w.watcher_cpu)
    met = "met" if figures.added < TARGET_PERCENT else "**missed**"

    def precise(watcher: bool | None) -> str:
        if not figures.precise:
            return "-"
        if watcher is None:
            return f"{figures.precise_percent(True) - figures.precise_percent(False):.3f}"
        return f"{figures.precise_percent(watcher):.3f}"

    return [
        "#### 9. `autosrectl watch`: the daemon's CPU with one watcher attached",
        "",
        f"Part: {figures.elapsed:.0f} s. The daemon (process engine, its autosred-sim child "
        f"ready, no requests) over {s.rounds} round(s) of two {s.window:g} s windows, without "
        "a watcher and then with one, in turns; CPU from `/proc/<pid>/stat` (10 ms ticks) "
        "and, to the nanosecond, `se.sum_exec_runtime` of `/proc/<pid>/task/*/sched`. "
        f"{figures.carried}",
        "",
        *_table(
            [
                "windows",
                "daemon CPU, % of a core (stat)",
                "the same, scheduler run time",
                "the watcher's own CPU, % of a core",
                "frames/s",
            ],
            [
                ["without a watcher", f"{figures.daemon_without:.2f}", precise(False), "-", "-"],
                [
                    f"one watcher, {INTERVAL:g} frame/s",
                    f"{figures.daemon_with:.2f}",
                    precise(True),
                    f"{client:.2f}",
                    f"{frames / seconds:.2f}" if seconds else "-",
                ],
                [
                    "added by the watcher",
                    f"**{figures.added:.2f}** (target < {TARGET_PERCENT:g} %: {met})",
                    precise(None),
                    "",
                    "",
                ],
            ],
        ),
        "",
        f"- Watcher: `{figures.command}` (stdout a pipe: every frame printed in full)",
        "",
    ]
