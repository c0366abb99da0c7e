"""The Markdown report of one run, and its place in BENCHMARKS.md (between two markers; the
hand-written text around them is kept)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.browser import BrowserFigures
from bench.browser import section as browser_section
from bench.competitors import Competitor
from bench.ctl import TARGET_MS, CommandTiming, ImportEntry
from bench.dropbox import DropboxFigures
from bench.dropbox import section as dropbox_section
from bench.kube import KubeFigures
from bench.kube import section as kube_section
from bench.mcp import McpFigures
from bench.mcp import section as mcp_section
from bench.procinfo import Machine
from bench.routes import MESSAGES_UPSTREAM_OPTIONS
from bench.scenarios import AddedTtfb, Memory, Settings, Throughput
from bench.watch import WatchFigures
from bench.watch import section as watch_section

BEGIN = "<!-- bench:results:begin (written by python -m bench.run; edits here are lost) -->"
END = "<!-- bench:results:end -->"
RATIO_TARGET = 0.8
TTFB_TARGET_MS = 2.0
SURFACE_RATIO_TARGET = 0.6
"""Anthropic and Responses streaming through the daemon vs direct (issues 3 and 5)."""
SURFACE_TTFB_TARGET_MS = 3.0
CCR_RATIO_TARGET = 1.2
"""The daemon's /v1/messages vs claude-code-router's, stream for stream."""
CPU_PER_EVENT_TARGET_US = 10.0
"""The daemon's CPU time per relayed event, on every surface (it was 20 µs, Anthropic only)."""
BUSY_CORES = 0.25
"""Other load (cores) above which the throughput section warns that the machine was busy."""


@dataclass
class Results:
    machine: Machine
    quick: bool
    settings: Settings
    load_average: tuple[float, float, float]
    daemon_loop: str = "asyncio"
    parts: frozenset[str] = frozenset()
    routes: dict[str, str] = field(default_factory=dict)
    """Measured routes: key -> label, in order."""
    events: dict[str, int] = field(default_factory=dict)
    """Events per stream of each route (the throughput streams)."""
    ttfb_events: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    """Routes left out, and why."""
    competitors: list[Competitor] = field(default_factory=list)
    throughput: list[dict[str, Throughput]] = field(default_factory=list)
    """One per concurrency level: route key -> its figures."""
    ttfb: AddedTtfb | None = None
    memory: Memory = field(default_factory=Memory)
    ctl: list[CommandTiming] = field(default_factory=list)
    sim_command: str = ""
    daemon_command: str = ""
    daemon_config: dict[str, Any] = field(default_factory=dict)
    kube: KubeFigures | None = None
    mcp: McpFigures | None = None
    watch: WatchFigures | None = None
    dropbox: DropboxFigures | None = None
    browser: BrowserFigures | None = None
    elapsed: float = 0.0


def _divide(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return float("inf") if numerator else float("nan")
    return numerator / denominator


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _cpu_verdict(us: float) -> str:
    """The daemon's CPU per relayed event (or chunk) against its target."""
    return f"**{us:.1f}** ({_verdict(us <= CPU_PER_EVENT_TARGET_US)})"


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
    if set(results.parts) != set(ALL_PARTS):
        kind += f", parts `--only {','.join(p for p in ALL_PARTS if p in results.parts)}`"
    one, five, _ = results.load_average
    lines = [
        f"### Results: {machine.date}, {kind}",
        "",
        f"- Machine: {machine.cpu_model}, {machine.cores} cores; Linux {machine.kernel}; "
        f"Python {machine.python}; aiohttp {machine.aiohttp}.",
        f"- Load average when the run started: {one:.2f} (1 min), {five:.2f} (5 min); the "
        "`other` CPU column shows what else ran during each measurement.",
        f"- Whole run: {results.elapsed:.0f} s.",
    ]
    lines += [f"- Skipped: {reason}" for reason in results.skipped.values()]
    lines.append("")
    lines += _throughput_section(results)
    lines += _ttfb_section(results)
    lines += _memory_section(results)
    lines += _ctl_section(results)
    lines += _anthropic_section(results)
    lines += _responses_section(results)
    lines += kube_section(results.kube)
    lines += mcp_section(results.mcp)
    lines += watch_section(results.watch)
    lines += dropbox_section(results.dropbox)
    lines += browser_section(results.browser)
    lines += _commands_section(results)
    return "\n".join(lines).rstrip() + "\n"


def _busy_note(measured: list[Throughput]) -> list[str]:
    busiest = max((t.cores("other") for t in measured), default=0.0)
    if busiest <= BUSY_CORES:
        return []
    return [
        f"Note: other processes used up to {busiest:.2f} cores during these windows (see "
        "`other`); on this machine that is CPU the simulator, the proxies and the load "
        "generator did not get, so the figures are below those of a quiet machine.",
        "",
    ]


def _pairs(results: Results, key: str) -> list[tuple[Throughput, Throughput]]:
    """(direct, ``key``) at each concurrency where both were measured."""
    return [
        (level["direct"], level[key])
        for level in results.throughput
        if "direct" in level and key in level
    ]


def _throughput_section(results: Results) -> list[str]:
    pairs = _pairs(results, "openai")
    if not pairs:
        return []
    s = results.settings
    events = results.events["direct"]
    lines = [
        f"#### 1. Streaming relay: {s.chunks}-chunk streams, direct vs through the daemon",
        "",
        f"Closed loop: N clients, each on a kept-alive connection, request a stream of {s.chunks} "
        f"text chunks ({events} `data:` events with the role chunk and "
        f"`[DONE]`) again and again. {s.duration:g} s measured per route and concurrency, in "
        f"{s.rounds} runs in turn with the other routes (each window opens {s.warmup:g} s after "
        "every client has had its first event). "
        "chunks/s counts `data:` events received in the window. CPU: average cores used during "
        "the window (`other`: the rest of the machine, from /proc/stat).",
        "",
    ]
    rows = []
    for direct, through in pairs:
        ratio = through.events_per_second / direct.events_per_second
        rows.append(
            [
                str(direct.concurrency),
                f"{direct.requests_per_second:.1f}",
                f"{direct.events_per_second:,.0f}",
                f"{through.requests_per_second:.1f}",
                f"{through.events_per_second:,.0f}",
                f"**{ratio:.2f}x** ({_verdict(ratio >= RATIO_TARGET)})",
                _cpu_verdict(through.cpu_per_event_us("daemon")),
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
        f"daemon CPU per chunk, µs (target <= {CPU_PER_EVENT_TARGET_US:g})",
        "CPU direct: sim / loadgen / other",
        "CPU via daemon: sim / daemon / loadgen / other",
        "errors",
    ]
    lines += [*_table(header, rows), ""]
    return lines + _busy_note([t for pair in pairs for t in pair])


def _ttfb_section(results: Results) -> list[str]:
    ttfb = results.ttfb
    if ttfb is None or "openai" not in ttfb.routes:
        return []
    s = results.settings
    lines = [
        "#### 2. Added time to first byte",
        "",
        f"{ttfb.pairs} sequential rounds of {s.ttfb_chunks}-chunk streams, one request per "
        f"route ({', '.join(ttfb.labels.values())}), the order alternating; each route on its "
        "own kept-alive connection. Added = through the daemon minus direct, in the same round. "
        "First byte: the status line; first event: the first `data:` line. "
        f"Errors: {ttfb.total_errors}.",
        "",
    ]
    rows = []
    for label, values, target in (
        ("added, first byte", ttfb.added("openai"), True),
        ("added, first event", ttfb.added("openai", event=True), False),
        ("direct, first byte", ttfb.first_byte_ms["direct"], False),
        ("through the daemon, first byte", ttfb.first_byte_ms["openai"], False),
    ):
        mid, p99 = ttfb.summary(values)
        verdict = f"< {TTFB_TARGET_MS:g} ms median: {_verdict(mid < TTFB_TARGET_MS)}"
        rows.append([label, f"{mid:.3f}", f"{p99:.3f}", verdict if target else ""])
    return [*lines, *_table(["", "median (ms)", "p99 (ms)", "target"], rows), ""]


def _surface_rows(results: Results, keys: list[str]) -> list[list[str]]:
    """One row per route and concurrency: the figures of the surface sections."""
    rows = []
    for level in results.throughput:
        direct = level.get("direct")
        if direct is None:
            continue
        for key in ["direct", *keys]:
            measured = level.get(key)
            if measured is None:
                continue
            proxy = measured.proxy
            ratio = "1" if key == "direct" else f"**{measured.ratio(direct):.2f}x**"
            cpu = "" if proxy is None else f"{measured.cpu_per_event_us():.1f}"
            if measured.events == 0:
                cpu = "n/a (no event in the windows)"
            rows.append(
                [
                    str(measured.concurrency),
                    measured.label,
                    str(measured.events_per_stream),
                    f"{measured.requests_per_second:.1f}",
                    f"{measured.events_per_second:,.0f}",
                    ratio,
                    cpu,
                    " / ".join(
                        "-" if p is None else f"{measured.cpu_per_stream_ms(p):.2f}"
                        for p in ("sim", proxy, "loadgen")
                    ),
                    " / ".join(
                        "-" if p is None else f"{measured.cores(p):.2f}"
                        for p in ("sim", proxy, "loadgen", "other")
                    ),
                    str(measured.errors),
                ]
            )
    return rows


CEILING_HEADER = "CPU-cost ratio"
CEILING_NOTE = (
    "CPU-cost ratio: direct's CPU time per stream (simulator + load generator) over the "
    "route's (simulator + proxy + load generator), from the table above: the ratio a machine "
    "would show if CPU time alone limited both paths. It depends little on what else ran, "
    "as the measured ratio does; measured ratios can exceed it where the single-threaded "
    "simulator, not the cores, limits the direct path. Against a competitor: its path's CPU "
    "per stream over the daemon's."
)
SURFACE_HEADER = [
    "concurrency",
    "route",
    "events per stream",
    "streams/s",
    "events/s",
    "vs direct, stream for stream",
    "proxy CPU per event (µs)",
    "CPU per stream, ms: sim / proxy / loadgen",
    "CPU cores: sim / proxy / loadgen / other",
    "errors",
]


def _event_definition(results: Results) -> str:
    s = results.settings
    return (
        f"Each stream is one answer of {s.chunks} text chunks. An event is one SSE event as "
        "the client receives it: a `data:` line of an OpenAI chat stream, an `event:` line of "
        "an Anthropic or Responses stream (see *What an event is* above); `vs direct` is "
        "taken stream for stream (events/s over events per stream). Proxy CPU: the CPU time of "
        "the process between client and simulator (the daemon, LiteLLM, claude-code-router, "
        "with its child processes) in the windows, per event its clients received and per "
        f"stream's worth of events. {s.duration:g} s per route and concurrency in {s.rounds} "
        "runs, every route in turn (the order reversed from run to run); each window opens "
        f"{s.warmup:g} s after every client has had its first event; `streams/s` counts "
        "streams completed inside the windows."
    )


def _surface_ttfb(results: Results, keys: list[str], marker: str) -> list[str]:
    ttfb = results.ttfb
    keys = [key for key in keys if ttfb is not None and key in ttfb.routes]
    if ttfb is None or not keys:
        return []
    s = results.settings
    rows = []
    for key in keys:
        mid, p99 = ttfb.summary(ttfb.added(key))
        event_mid, event_p99 = ttfb.summary(ttfb.added(key, event=True))
        own, _ = ttfb.summary(ttfb.first_byte_ms[key])
        target = ""
        if key in ("anthropic", "responses"):
            met = mid < SURFACE_TTFB_TARGET_MS
            target = f"< {SURFACE_TTFB_TARGET_MS:g} ms median: {_verdict(met)}"
        rows.append(
            [
                ttfb.labels[key],
                f"{mid:.3f}",
                f"{p99:.3f}",
                f"{event_mid:.3f}",
                f"{event_p99:.3f}",
                f"{own:.3f}",
                str(ttfb.errors[key]),
                target,
            ]
        )
    direct_mid, _ = ttfb.summary(ttfb.first_byte_ms["direct"])
    header = [
        "route",
        "added first byte, median (ms)",
        "p99 (ms)",
        "added first event, median (ms)",
        "p99 (ms)",
        "first byte, median (ms)",
        "errors",
        "target",
    ]
    return [
        f"Added time to first byte: {ttfb.pairs} sequential rounds of one {s.ttfb_chunks}-chunk "
        "stream per route (the order alternating), each route on its own kept-alive "
        "connection; added = the route minus direct in the same round. First byte: the status "
        f"line; first event: the first `{marker}` line. Direct's own first byte: "
        f"{direct_mid:.3f} ms median.",
        "",
        *_table(header, rows),
        "",
    ]


def _anthropic_section(results: Results) -> list[str]:
    keys: list[str] = [
        key for key in ("direct_usage", "anthropic", "litellm", "ccr") if key in results.routes
    ]
    if "anthropic" not in keys:
        return []
    lines = [
        "#### 5. Anthropic Messages streaming: through the daemon vs direct, and the alternatives",
        "",
        "The request is the shape Claude Code sends on a main turn (`POST /v1/messages`, "
        "`stream: true`, system blocks with the billing header and `cache_control`, thinking "
        "enabled, one tool, metadata, `anthropic-version`/`anthropic-beta` headers; "
        "`bench/routes.py`), to the daemon and to the other translators in front of the same "
        "simulator; direct is the simulator's own OpenAI chat stream of the same answer, and "
        "`direct, with the Messages relay's stream_options` the same request with the "
        "`stream_options` the daemon asks for upstream ("
        f"`{json.dumps(MESSAGES_UPSTREAM_OPTIONS, separators=(',', ':'))}`). "
        + _event_definition(results),
        "",
    ]
    for competitor in results.competitors:
        lines.append(
            f"- {competitor.name}: `{competitor.command}`; " + "; ".join(competitor.notes) + "."
        )
    for key in ("litellm", "ccr"):
        if key in results.skipped:
            lines.append(f"- Skipped: {results.skipped[key]}")
    lines += ["", *_table(SURFACE_HEADER, _surface_rows(results, keys)), ""]
    lines += _anthropic_targets(results)
    lines += _surface_ttfb(results, keys, "event:")
    measured = [t for level in results.throughput for k, t in level.items() if k in keys]
    return lines + _busy_note(measured)


def _anthropic_targets(results: Results) -> list[str]:
    rows = []
    for level in results.throughput:
        if "anthropic" not in level or "direct" not in level:
            continue
        ours = level["anthropic"]
        ratio = ours.ratio(level["direct"])
        cpu = ours.cpu_per_event_us()
        same = level.get("direct_usage")
        row = [
            str(ours.concurrency),
            f"**{ratio:.2f}x** ({_verdict(ratio >= SURFACE_RATIO_TARGET)})",
            f"{ours.cpu_cost_ratio(level['direct']):.2f}x",
            "skipped" if same is None else f"{ours.ratio(same):.2f}x",
        ]
        for key, target in (("ccr", CCR_RATIO_TARGET), ("litellm", None)):
            if key in level:
                versus = _divide(ours.streams_per_second, level[key].streams_per_second)
                verdict = f" ({_verdict(versus >= target)})" if target else ""
                cost = level[key].path_cpu_per_stream_ms() / ours.path_cpu_per_stream_ms()
                row.append(f"**{versus:.2f}x**{verdict}; CPU-cost ratio {cost:.2f}x")
            else:
                row.append("skipped")
        row.append(_cpu_verdict(cpu))
        rows.append(row)
    header = [
        "concurrency",
        f"daemon vs direct (target >= {SURFACE_RATIO_TARGET}x)",
        CEILING_HEADER,
        "daemon vs direct with the relay's stream_options",
        f"daemon vs claude-code-router (target >= {CCR_RATIO_TARGET}x)",
        "daemon vs LiteLLM",
        f"daemon CPU per event, µs (target <= {CPU_PER_EVENT_TARGET_US:g})",
    ]
    return [
        "Targets (the Messages relay), stream for stream:",
        "",
        *_table(header, rows),
        "",
        CEILING_NOTE,
        "",
    ]


def _responses_section(results: Results) -> list[str]:
    if "responses" not in results.parts:
        return []
    lines = ["#### 6. OpenAI Responses streaming: through the daemon vs direct", ""]
    if "responses" not in results.routes:
        reason = results.skipped.get("responses", "not measured")
        return [*lines, f"Skipped: {reason}", ""]
    lines += [
        "The request is the shape the Codex CLI sends (`POST /v1/responses`, `stream: true`, "
        "a developer message, one function tool, `reasoning.effort`, `store: false`, "
        "`include: [reasoning.encrypted_content]`; `bench/routes.py`); direct is the "
        "simulator's own OpenAI chat stream of the same answer. " + _event_definition(results),
        "",
        *_table(SURFACE_HEADER, _surface_rows(results, ["responses"])),
        "",
    ]
    rows = []
    for level in results.throughput:
        if "responses" in level and "direct" in level:
            ours = level["responses"]
            ratio = ours.ratio(level["direct"])
            rows.append(
                [
                    str(ours.concurrency),
                    f"**{ratio:.2f}x** ({_verdict(ratio >= SURFACE_RATIO_TARGET)})",
                    f"{ours.cpu_cost_ratio(level['direct']):.2f}x",
                    _cpu_verdict(ours.cpu_per_event_us()),
                ]
            )
    header = [
        "concurrency",
        f"daemon vs direct (target >= {SURFACE_RATIO_TARGET}x)",
        CEILING_HEADER,
        f"daemon CPU per event, µs (target <= {CPU_PER_EVENT_TARGET_US:g})",
    ]
    lines += ["Target (the Responses relay), stream for stream:", "", *_table(header, rows), ""]
    lines += [CEILING_NOTE, ""]
    lines += _surface_ttfb(results, ["responses"], "event:")
    measured = [level["responses"] for level in results.throughput if "responses" in level]
    return lines + _busy_note(measured)


def _memory_section(results: Results) -> list[str]:
    if "memory" not in results.parts:
        return []
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
    if not results.ctl:
        return []
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
    if not results.sim_command:
        return []  # only kube, mcp or watch ran; their sections list their own commands
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
    lines += _route_commands(results)
    if results.memory.hold_command:
        lines.append(
            f"- RSS with streams open: {_code(results.memory.hold_command)} (press Enter to "
            "drop the streams), sampling `VmRSS` in `/proc/<daemon pid>/status`"
        )
    for timing in results.ctl:
        lines.append(f"- autosrectl, {timing.label}: {_code(timing.shown)}")
    return [*lines, ""]


def _route_commands(results: Results) -> list[str]:
    lines = []
    for competitor in results.competitors:
        lines += [
            f"- {competitor.name}: {_code(competitor.command)} with `{competitor.config_name}`:",
            "",
            "  ```json",
            *("  " + line for line in competitor.config.splitlines()),
            "  ```",
            "",
        ]
    if results.throughput:
        levels = [level for level in results.throughput if level]
        shown_level = next(
            (level for level in levels if next(iter(level.values())).concurrency == 16),
            levels[0],
        )
        concurrency = next(iter(shown_level.values())).concurrency
        lines.append(
            f"- Throughput at concurrency {concurrency} (one run; each route runs "
            f"{results.settings.rounds} times per concurrency, in turn with the others; the "
            'other concurrencies differ only in `"concurrency"`):'
        )
        for measured in shown_level.values():
            lines.append(f"  - {measured.label}: {_code(measured.command)}")
    if results.ttfb is not None:
        lines.append(f"- Added TTFB, every route: {_code(results.ttfb.command)}")
    return lines


ALL_PARTS = (
    "relay",
    "anthropic",
    "responses",
    "competitors",
    "memory",
    "ctl",
    "kube",
    "mcp",
    "watch",
    "dropbox",
    "browser",
)


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
