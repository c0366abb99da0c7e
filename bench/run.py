"""`python -m bench.run [--quick]` (`make bench`): every benchmark in one run, on this machine.

Starts one simulator and one daemon fronting it (static engine; see `bench.daemon`), measures
relay throughput, added time to first byte, the daemon's memory and autosrectl's start-up
time, prints the Markdown report on stdout (progress goes to stderr) and writes it into
BENCHMARKS.md between its markers. A full run takes about 2 minutes, `--quick` about 30 s; a
quick run writes BENCHMARKS.md only with `--write`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import ctl, scenarios
from bench.daemon import Daemon, Sim, daemon_config, running_daemon, running_sim
from bench.procinfo import load_average, machine
from bench.report import BEGIN, END, Results, render, shown, splice

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "BENCHMARKS.md"
TEMPLATE = f"# Benchmarks\n\nRun `make bench` (`python -m bench.run`).\n\n{BEGIN}\n{END}\n"


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the autosred daemon against autosred-sim and write BENCHMARKS.md.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short measurements (about 30 s in all)"
    )
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the report into the output file (default: yes, but not for --quick)",
    )
    parser.add_argument(
        "--daemon-loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="experiment: run the daemon on uvloop (must be importable; not written by default)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="the Markdown file to update between its markers (default: BENCHMARKS.md)",
    )
    return parser


def measure(results: Results, sim: Sim, daemon: Daemon, workdir: Path) -> None:
    settings = results.settings
    results.sim_command = shown(sim.command, workdir)
    results.daemon_command = shown(daemon.command, workdir)
    config = json.dumps(daemon_config(workdir, sim)).replace(str(workdir), "$BENCH_DIR")
    results.daemon_config = json.loads(config)
    progress(f"sim pid {sim.pid} at {sim.url}; daemon pid {daemon.pid}, api {daemon.api}")

    results.events_per_stream = scenarios.expected_events(sim, daemon, settings.chunks)
    ttfb_events = scenarios.expected_events(sim, daemon, settings.ttfb_chunks)
    results.memory.idle_mib = scenarios.idle_rss(daemon)

    # Before any heavy load, so that the figure shows what open streams cost.
    progress(f"daemon RSS with {settings.hold_streams} streams open")
    scenarios.rss_with_open_streams(daemon, results.memory, settings=settings)

    progress(f"autosrectl start-up, {settings.ctl_runs} runs per command")
    results.ctl = ctl.measure(workdir, daemon.admin_socket, runs=settings.ctl_runs)

    progress(f"added time to first byte, {settings.ttfb_pairs} pairs")
    results.ttfb = scenarios.added_ttfb(sim, daemon, events=ttfb_events, settings=settings)

    for concurrency in settings.levels:
        progress(f"relay throughput at concurrency {concurrency}")
        pair = scenarios.throughput(
            sim,
            daemon,
            concurrency=concurrency,
            events=results.events_per_stream,
            settings=settings,
        )
        results.throughput.append(pair)

    scenarios.settle_and_finish(daemon, results.memory)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    write = (
        args.write if args.write is not None else not (args.quick or args.daemon_loop != "asyncio")
    )
    settings = scenarios.QUICK if args.quick else scenarios.FULL
    results = Results(
        machine=machine(),
        quick=args.quick,
        settings=settings,
        load_average=load_average(),
        daemon_loop=args.daemon_loop,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="autosred-bench-") as tmp:
        workdir = Path(tmp)
        with (
            running_sim(workdir) as sim,
            running_daemon(workdir, sim, loop=args.daemon_loop) as daemon,
        ):
            measure(results, sim, daemon, workdir)
    results.elapsed = time.monotonic() - started
    report = render(results)
    print(report)
    if write:
        splice(args.output, report, template=TEMPLATE)
        progress(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
