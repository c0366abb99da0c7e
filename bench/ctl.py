"""autosrectl start-up time: the wall time of whole runs as a shell would start them, and where
the import time goes (``PYTHONPROFILEIMPORTTIME=1``, the same as ``python -X importtime``)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.stats import median, percentile

TARGET_MS = 150.0


@dataclass(frozen=True)
class ImportEntry:
    self_us: int
    cumulative_us: int
    module: str
    depth: int
    """0 for a module imported by the program itself, more for what it imported in turn."""


@dataclass
class CommandTiming:
    label: str
    shown: str
    runs_ms: list[float]
    returncodes: list[int]
    cpu_ms: list[float] = field(default_factory=list)
    """User + system CPU time of each run: what the start-up costs without the wait for a
    busy machine's cores."""
    imports: list[ImportEntry] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return median(self.runs_ms)

    @property
    def cpu_median_ms(self) -> float:
        return median(self.cpu_ms)

    @property
    def p90_ms(self) -> float:
        return percentile(self.runs_ms, 90)

    @property
    def import_total_ms(self) -> float:
        return sum(entry.self_us for entry in self.imports) / 1000.0


def ctl_executable(workdir: Path) -> tuple[list[str], str]:
    """The installed ``autosrectl`` script; where the environment predates it, an equivalent
    entry-point script (the interpreter, ``from autosred.ctl.main import main``)."""
    installed = Path(sys.executable).parent / "autosrectl"
    if installed.exists():
        return [str(installed)], _relative(installed)
    wrapper = workdir / "autosrectl"
    wrapper.write_text(
        f"#!{sys.executable}\nimport sys\nfrom autosred.ctl.main import main\nsys.exit(main())\n"
    )
    wrapper.chmod(0o755)
    return [str(wrapper)], "autosrectl"


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOSRED_", "PYTHONPROF"))}
    env.update(extra)
    return env


def _run_once(argv: list[str]) -> tuple[float, float, int]:
    """Wall ms, CPU ms (user + system of the child) and exit status of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - started) * 1000.0
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000.0, process.returncode


def time_command(label: str, argv: list[str], shown: str, *, runs: int) -> CommandTiming:
    _run_once(argv)  # warm the page cache
    timing = CommandTiming(label=label, shown=shown, runs_ms=[], returncodes=[])
    for _ in range(runs):
        wall, cpu, code = _run_once(argv)
        timing.runs_ms.append(wall)
        timing.cpu_ms.append(cpu)
        timing.returncodes.append(code)
    return timing


def import_profile(argv: list[str], timeout: float = 30.0) -> list[ImportEntry]:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=_env(PYTHONPROFILEIMPORTTIME="1"),
        timeout=timeout,
        check=False,
    )
    entries = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        stripped = name.lstrip(" ")
        depth = (len(name) - len(stripped) - 1) // 2
        entries.append(ImportEntry(int(self_us), int(cumulative_us), stripped.strip(), depth))
    return entries


def _shown(arg: str, workdir: Path) -> str:
    if arg.startswith(str(workdir)):
        return "$BENCH_DIR" + arg.removeprefix(str(workdir))  # temp paths hold no spaces
    return shlex.quote(arg)


def measure(workdir: Path, socket: Path, *, runs: int) -> list[CommandTiming]:
    """Both commands, ``runs`` times each; shown with ``$BENCH_DIR`` for the run's directory."""
    executable, shown = ctl_executable(workdir)
    missing = workdir / "missing.sock"
    commands = [
        ("status --json, live daemon", ["--socket", str(socket), "status", "--json"]),
        ("version, socket missing", ["--socket", str(missing), "version"]),
    ]
    timings = []
    for label, args in commands:
        argv = [*executable, *args]
        shown_args = " ".join(_shown(arg, workdir) for arg in args)
        timing = time_command(label, argv, f"{shown} {shown_args}", runs=runs)
        timing.imports = import_profile(argv)
        timings.append(timing)
    return timings
