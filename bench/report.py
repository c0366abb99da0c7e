"""The Markdown report of one run, and its place in BENCHMARKS.md (between two markers; the
hand-written text around them is kept)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ctl import TARGET_MS, CommandTiming, ImportEntry
from bench.procinfo import Machine
from bench.scenarios import AddedTtfb, Memory, Settings, Throughput

BEGIN = "<!-- bench:results:begin (written by python -m bench.run; edits here are lost) -->"
END = "<!-- bench:results:end -->"
RATIO_TARGET = 0.8
TTFB_TARGET_MS = 2.0
BUSY_CORES = 0.25
"""Other load (cores) above which the throughput section warns that the machine was busy."""


@dataclass
class Results:
    machine: Machine
    quick: bool
    settings: Settings
    load_average: tuple[float, float, float]
    daemon_loop: str = "asyncio"
    events_per_stream: int = 0
    throughput: list[tuple[Throughput, Throughput]] = field(default_factory=list)
    ttfb: AddedTtfb | None = None
    memory: Memory = field(default_factory=Memory)
    ctl: list[CommandTiming] = field(default_factory=list)
    sim_command: str = ""
    daemon_command: str = ""
    daemon_config: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _code(command: str) -> str:
    return f"`{command}`" if "`" not in command else f"``{command}``"


def render(results: Results) -> str:
    machine = results.machine
    kind = "quick run (`--quick`)" if results.quick else "full run"
    if results.daemon_loop != "asyncio":
        kind += f", daemon on {results.daemon_loop} (`--daemon-loop {results.daemon_loop}`)"
    one, five, _ = results.load_average
    lines = [
        f"### Results: {machine.date}, {kind}",
        "",
        f"- Machine: {machine.cpu_model}, {machine.cores} cores; Linux {machine.kernel}; "
        f"Python {machine.python}; aiohttp {machine.aiohttp}.",
        f"- Load average when the run started: {one:.2f} (1 min), {five:.2f} (5 min); the "
        "`other` CPU column shows what else ran during each measurement.",
        f"- Whole run: {results.elapsed:.0f} s.",
        "",
    ]
    lines += _throughput_section(results)
    lines += _ttfb_section(results)
    lines += _memory_section(results)
    lines += _ctl_section(results)
    lines += _commands_section(results)
    return "\n".join(lines).rstrip() + "\n"


def _throughput_section(results: Results) -> list[str]:
    s = results.settings
    lines = [
        f"#### 1. Streaming relay: {s.chunks}-chunk streams, direct vs through the daemon",
        "",
        f"Closed loop: N clients, each on a kept-alive connection, request a stream of {s.chunks} "
        f"text chunks ({results.events_per_stream} `data:` events with the role chunk and "
        f"`[DONE]`) again and again. {s.duration:g} s measured per path and concurrency, in "
        f"{s.rounds} alternating runs (after {s.warmup:g} s of warm-up each). chunks/s counts "
        "`data:` events received in the window. CPU: average cores used during the window "
        "(`other`: the rest of the machine, from /proc/stat).",
        "",
    ]
    rows = []
    for direct, through in results.throughput:
        ratio = through.events_per_second / direct.events_per_second
        rows.append(
            [
                str(direct.concurrency),
                f"{direct.requests_per_second:.1f}",
                f"{direct.events_per_second:,.0f}",
                f"{through.requests_per_second:.1f}",
                f"{through.events_per_second:,.0f}",
                f"**{ratio:.2f}x** ({_verdict(ratio >= RATIO_TARGET)})",
                f"{through.cpu_per_event_us('daemon'):.1f}",
                " / ".join(f"{direct.cores(p):.2f}" for p in ("sim", "loadgen", "other")),
                " / ".join(
                    f"{through.cores(p):.2f}" for p in ("sim", "daemon", "loadgen", "other")
                ),
                str(direct.errors + through.errors),
            ]
        )
    header = [
        "concurrency",
        "direct req/s",
        "direct chunks/s",
        "daemon req/s",
        "daemon chunks/s",
        f"daemon/direct chunks/s (target >= {RATIO_TARGET}x)",
        "daemon CPU per chunk (µs)",
        "CPU direct: sim / loadgen / other",
        "CPU via daemon: sim / daemon / loadgen / other",
        "errors",
    ]
    lines += [*_table(header, rows), ""]
    busiest = max((t.cores("other") for pair in results.throughput for t in pair), default=0.0)
    if busiest > BUSY_CORES:
        lines += [
            f"Note: other processes used up to {busiest:.2f} cores during these windows (see "
            "`other`); on this machine that is CPU the simulator, the daemon and the load "
            "generator did not get, so the figures are below those of a quiet machine.",
            "",
        ]
    return lines


def _ttfb_section(results: Results) -> list[str]:
    ttfb = results.ttfb
    if ttfb is None:
        return []
    s = results.settings
    lines = [
        "#### 2. Added time to first byte",
        "",
        f"{ttfb.pairs} sequential pairs of {s.ttfb_chunks}-chunk streams, one direct and one "
        "through the daemon per pair, the order alternating; each path on its own kept-alive "
        "connection. Added = daemon minus direct, per pair. First byte: the status line; "
        f"first event: the first `data:` line. Errors: {ttfb.errors}.",
        "",
    ]
    rows = []
    for label, values, target in (
        ("added, first byte", ttfb.added_first_byte_ms, True),
        ("added, first event", ttfb.added_first_event_ms, False),
        ("direct, first byte", ttfb.direct_first_byte_ms, False),
        ("through the daemon, first byte", ttfb.daemon_first_byte_ms, False),
    ):
        mid, p99 = ttfb.summary(values)
        verdict = f"< {TTFB_TARGET_MS:g} ms median: {_verdict(mid < TTFB_TARGET_MS)}"
        rows.append([label, f"{mid:.3f}", f"{p99:.3f}", verdict if target else ""])
    return [*lines, *_table(["", "median (ms)", "p99 (ms)", "target"], rows), ""]


def _memory_section(results: Results) -> list[str]:
    memory = results.memory
    s = results.settings
    lines = [
        "#### 3. Daemon memory (VmRSS of the daemon's pid from the admin status)",
        "",
    ]
    rows = [
        ["idle, after start-up and the warm-up requests", f"{memory.idle_mib:.1f}"],
        [
            f"{memory.streams} slow streams open ({s.hold_tokens_per_second:g} chunks/s each, "
            f"before any other load), median / max of samples over {s.hold_sample_seconds:g} s",
            f"{memory.open_median_mib:.1f} / {memory.open_max_mib:.1f}",
        ],
        ["idle again, after all the load (throughput runs included)", f"{memory.after_mib:.1f}"],
        [
            "peak over the whole run (VmHWM; the unpaced 64-stream runs included)",
            f"{memory.peak_mib:.1f}",
        ],
    ]
    if memory.errors:
        rows.append(["errors while holding streams", str(memory.errors)])
    return [*lines, *_table(["state", "RSS (MiB)"], rows), ""]


def _ctl_section(results: Results) -> list[str]:
    lines = [
        "#### 4. autosrectl start-up",
        "",
        "Wall time of the whole process as a shell starts it (after one unmeasured run); CPU: "
        "its user + system time, which a busy machine does not inflate.",
        "",
    ]
    rows = []
    for timing in results.ctl:
        codes = ", ".join(str(code) for code in sorted(set(timing.returncodes)))
        rows.append(
            [
                timing.label,
                _code(timing.shown),
                f"{timing.median_ms:.1f}",
                f"{timing.p90_ms:.1f}",
                f"{timing.cpu_median_ms:.1f}",
                str(len(timing.runs_ms)),
                codes,
                f"< {TARGET_MS:g} ms: {_verdict(timing.median_ms < TARGET_MS)}",
            ]
        )
    header = [
        "",
        "command",
        "median (ms)",
        "p90 (ms)",
        "CPU median (ms)",
        "runs",
        "exit status",
        "target (median)",
    ]
    lines += [*_table(header, rows), ""]
    for timing in results.ctl:
        if timing.imports:
            lines += _imports(timing)
    return lines


def _imports(timing: CommandTiming, top: int = 6) -> list[str]:
    top_level = sorted(
        (entry for entry in timing.imports if entry.depth == 0),
        key=lambda entry: entry.cumulative_us,
        reverse=True,
    )[:top]
    heaviest = sorted(timing.imports, key=lambda entry: entry.self_us, reverse=True)[:top]

    def row(entry: ImportEntry) -> list[str]:
        return [
            f"`{entry.module}`",
            f"{entry.self_us / 1000:.1f}",
            f"{entry.cumulative_us / 1000:.1f}",
        ]

    verdict = "over" if timing.median_ms >= TARGET_MS else "under"
    header = ["module", "self (ms)", "cumulative (ms)"]
    return [
        f"Imports of {timing.label} ({verdict} target): {timing.import_total_ms:.0f} ms in "
        f"all (one run of `PYTHONPROFILEIMPORTTIME=1 {timing.shown}`). Heaviest top-level "
        "imports (cumulative) and modules (own time):",
        "",
        *_table(header, [row(entry) for entry in top_level]),
        "",
        *_table(header, [row(entry) for entry in heaviest]),
        "",
    ]


def _commands_section(results: Results) -> list[str]:
    lines = [
        "#### Commands behind each figure",
        "",
        "`$BENCH_DIR` is the run's temporary directory; ports are the ones this run used. Each "
        "load generator command works on its own against a running simulator and daemon.",
        "",
        f"- Simulator: {_code(results.sim_command)}",
        f"- Daemon: {_code(results.daemon_command)} with `$BENCH_DIR/autosred.yaml`:",
        "",
        "  ```json",
        *("  " + line for line in json.dumps(results.daemon_config, indent=2).splitlines()),
        "  ```",
        "",
    ]
    for direct, through in results.throughput:
        lines += [
            f"- Relay, concurrency {direct.concurrency} (one run; each path runs "
            f"{results.settings.rounds} times, alternating with the other):",
            f"  - direct: {_code(direct.command)}",
            f"  - daemon: {_code(through.command)}",
        ]
    if results.ttfb is not None:
        lines.append(f"- Added TTFB: {_code(results.ttfb.command)}")
    if results.memory.hold_command:
        lines.append(
            f"- RSS with streams open: {_code(results.memory.hold_command)} (press Enter to "
            "drop the streams), sampling `VmRSS` in `/proc/<daemon pid>/status`"
        )
    for timing in results.ctl:
        lines.append(f"- autosrectl, {timing.label}: {_code(timing.shown)}")
    return [*lines, ""]


def shown(argv: list[str], workdir: Path) -> str:
    """A command line for the report: this interpreter as ``python``, the run's directory as
    ``$BENCH_DIR``."""
    parts = []
    for index, arg in enumerate(argv):
        if index == 0 and Path(arg).name.startswith("python"):
            parts.append("python")
        elif arg.startswith(str(workdir)):
            parts.append("$BENCH_DIR" + arg.removeprefix(str(workdir)))
        else:
            parts.append(shlex.quote(arg))
    return " ".join(parts)


def splice(path: Path, block: str, *, template: str) -> None:
    """Put ``block`` between the markers of ``path``; a file without markers gets them at its
    end, a missing file is created from ``template`` (which holds the markers)."""
    text = path.read_text() if path.exists() else template
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n\n{block.strip()}\n\n{END}{tail}")
