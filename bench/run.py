"""`python -m bench.run [--quick] [--only PARTS]` (`make bench`): the benchmarks in one run.

Starts one simulator and one daemon fronting it (static engine; see `bench.daemon`) and, for
the ``competitors`` part, LiteLLM's proxy and claude-code-router in front of the same
simulator (`bench.competitors`; installed on first use under bench/, skipped with the reason
when they cannot be). Measures streaming throughput and added time to first byte for every
selected route (`bench.routes`), the daemon's memory and autosrectl's start-up time, and
first (``kube``) the kubernetes engine against the fake k3s (`bench.kube`), prints
the Markdown report on stdout (progress goes to stderr) and writes it into BENCHMARKS.md
between its markers. A full run takes about 5 minutes (``kube`` about 1), `--quick` about 1.5;
a quick run, or one with ``--only``, writes BENCHMARKS.md only with ``--write``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import browser, competitors, ctl, dropbox, kube, mcp, scenarios, watch
from bench.daemon import Daemon, Sim, StartError, daemon_config, running_daemon, running_sim
from bench.procinfo import load_average, machine
from bench.report import BEGIN, END, Results, render, shown, splice
from bench.routes import Route

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "BENCHMARKS.md"
TEMPLATE = f"# Benchmarks\n\nRun `make bench` (`python -m bench.run`).\n\n{BEGIN}\n{END}\n"
PARTS = (
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
"""relay: the OpenAI pass-through vs direct (throughput, added TTFB); anthropic: the daemon's
/v1/messages; responses: the daemon's /v1/responses; competitors: LiteLLM and
claude-code-router's /v1/messages (with the daemon's, to compare); memory: the daemon's RSS;
ctl: autosrectl start-up; kube: the kubernetes engine against the fake k3s (pod Ready to first
byte, idle CPU; `bench.kube`); mcp: the fetch tool (extraction, overhead per call, model
streams while fetching; `bench.mcp`, its own simulator and daemon); watch: the daemon's CPU
with one `autosrectl watch` attached vs none (`bench.watch`, its own simulator and daemon);
dropbox: upload and download MB/s of a 1 GiB file over loopback TLS, the daemon vs nginx, and
model streams during a transfer (`bench.dropbox`, its own simulator, daemon and nginx);
browser: the browser tools' cold wake, per-action cost through the tool vs Playwright vs raw
CDP, and model streams while browsing (`bench.browser`, its own simulator, daemons and
Chromium)."""
OPTIONAL_ROUTES = ("responses", "litellm", "ccr")
"""Routes skipped with a message, rather than failing the run, when they do not answer."""


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def parse_parts(text: str) -> frozenset[str]:
    parts = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = parts - set(PARTS)
    if unknown or not parts:
        raise argparse.ArgumentTypeError(
            f"unknown part(s) {', '.join(sorted(unknown)) or '(none given)'}; "
            f"choose from {','.join(PARTS)}"
        )
    return parts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the autosred daemon against autosred-sim and write BENCHMARKS.md.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short measurements (about 2 minutes in all)"
    )
    parser.add_argument(
        "--only",
        type=parse_parts,
        default=frozenset(PARTS),
        metavar="PARTS",
        help=f"comma-separated parts to run (default: all): {','.join(PARTS)}",
    )
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the report into the output file (default: yes, but not for --quick, "
        "--only or --daemon-loop)",
    )
    parser.add_argument(
        "--install",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="install LiteLLM and claude-code-router under bench/ when missing (default: yes)",
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


def route_keys(parts: frozenset[str]) -> list[str]:
    keys = []
    if parts & {"relay", "anthropic", "responses", "competitors"}:
        keys.append("direct")
    if "relay" in parts:
        keys.append("openai")
    if parts & {"anthropic", "competitors"}:
        keys += ["direct_usage", "anthropic"]
    if "responses" in parts:
        keys.append("responses")
    if "competitors" in parts:
        keys += ["litellm", "ccr"]
    return keys


def _probe(results: Results, throughput: list[Route], ttfb: list[Route]) -> None:
    """Events per stream of each route; an optional route that fails is dropped with the
    reason (a required one fails the run)."""
    for route, short in zip(throughput, ttfb, strict=True):
        try:
            count = scenarios.expected_events([route])[route.key]
            short_count = scenarios.expected_events([short])[route.key]
        except scenarios.ProbeError as exc:
            if route.key not in OPTIONAL_ROUTES:
                raise
            results.skipped[route.key] = f"{route.label} did not stream: {exc}"
            progress(f"skipping {route.key}: {exc}")
        else:
            results.events[route.key] = count
            results.ttfb_events[route.key] = short_count
    events = results.events
    if "direct" in events and "openai" in events and events["direct"] != events["openai"]:
        raise scenarios.ProbeError(
            f"direct stream has {events['direct']} events, through the daemon {events['openai']}"
        )


def measure(
    results: Results,
    sim: Sim,
    daemon: Daemon,
    running: dict[str, competitors.Competitor],
    workdir: Path,
) -> None:
    settings = results.settings
    parts = results.parts
    results.sim_command = shown(sim.command, workdir)
    results.daemon_command = shown(daemon.command, workdir)
    config = json.dumps(daemon_config(workdir, sim)).replace(str(workdir), "$BENCH_DIR")
    results.daemon_config = json.loads(config)
    progress(f"sim pid {sim.pid} at {sim.url}; daemon pid {daemon.pid}, api {daemon.api}")

    keys = route_keys(parts)
    long_reply = scenarios.stream_reply(settings.chunks)
    short_reply = scenarios.stream_reply(settings.ttfb_chunks)
    streams = scenarios.build_routes(keys, sim, daemon, running, long_reply)
    shorts = scenarios.build_routes(keys, sim, daemon, running, short_reply)
    _probe(results, streams, shorts)
    streams = [route for route in streams if route.key in results.events]
    shorts = [route for route in shorts if route.key in results.events]
    results.routes = {route.key: route.label for route in streams}

    if "memory" in parts:
        results.memory.idle_mib = scenarios.idle_rss(daemon)
        # Before any heavy load, so that the figure shows what open streams cost.
        progress(f"daemon RSS with {settings.hold_streams} streams open")
        scenarios.rss_with_open_streams(daemon, results.memory, settings=settings)

    if "ctl" in parts:
        progress(f"autosrectl start-up, {settings.ctl_runs} runs per command")
        results.ctl = ctl.measure(workdir, daemon.admin_socket, runs=settings.ctl_runs)

    if len(shorts) > 1:
        progress(f"added time to first byte, {settings.ttfb_pairs} rounds of {len(shorts)}")
        results.ttfb = scenarios.added_ttfb(shorts, events=results.ttfb_events, settings=settings)

    pids = scenarios.process_pids(sim, daemon, running)
    if len(streams) > 1:
        for concurrency in settings.levels:
            progress(f"throughput at concurrency {concurrency}: {', '.join(results.routes)}")
            results.throughput.append(
                scenarios.throughput(
                    streams,
                    concurrency=concurrency,
                    events=results.events,
                    settings=settings,
                    pids=pids,
                    sim=sim,
                )
            )

    if "memory" in parts:
        scenarios.settle_and_finish(daemon, results.memory)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    partial = args.quick or args.only != frozenset(PARTS) or args.daemon_loop != "asyncio"
    write = args.write if args.write is not None else not partial
    settings = scenarios.QUICK if args.quick else scenarios.FULL
    results = Results(
        machine=machine(),
        quick=args.quick,
        settings=settings,
        load_average=load_average(),
        daemon_loop=args.daemon_loop,
        parts=args.only,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="autosred-bench-") as tmp:
        workdir = Path(tmp)
        if "kube" in args.only:
            # First, while nothing else of the run is up: its idle-CPU window wants a quiet
            # machine.
            progress("kube: the kubernetes engine against the fake k3s")
            try:
                results.kube = kube.measure(workdir / "kube", quick=args.quick, progress=progress)
            except (StartError, OSError, subprocess.SubprocessError) as exc:
                progress(f"skipping kube: {exc}")
                results.skipped["kube"] = f"kube part failed: {exc}"
        if "mcp" in args.only:
            progress("mcp: the fetch tool")
            try:
                results.mcp = mcp.measure(workdir / "mcp", quick=args.quick, progress=progress)
            except Exception as exc:  # the MCP client's failures come as exception groups
                progress(f"skipping mcp: {exc}")
                results.skipped["mcp"] = f"mcp part failed: {exc}"
        if "watch" in args.only:
            progress("watch: the daemon's CPU with a watcher attached")
            try:
                results.watch = watch.measure(
                    workdir / "watch", quick=args.quick, progress=progress
                )
            except (StartError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
                progress(f"skipping watch: {exc}")
                results.skipped["watch"] = f"watch part failed: {exc}"
        if "dropbox" in args.only:
            progress("dropbox: transfers over loopback TLS, the daemon vs nginx")
            try:
                results.dropbox = dropbox.measure(
                    workdir / "dropbox", quick=args.quick, progress=progress
                )
            except (StartError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
                progress(f"skipping dropbox: {exc}")
                results.skipped["dropbox"] = f"dropbox part failed: {exc}"
        if "browser" in args.only:
            progress("browser: the browser tools")
            try:
                results.browser = browser.measure(
                    workdir / "browser", quick=args.quick, progress=progress
                )
            except Exception as exc:  # the MCP client's failures come as exception groups
                progress(f"skipping browser: {exc}")
                results.skipped["browser"] = f"browser part failed: {exc}"
        if args.only - {"kube", "mcp", "watch", "dropbox", "browser"}:
            with contextlib.ExitStack() as stack:
                sim = stack.enter_context(running_sim(workdir))
                daemon = stack.enter_context(running_daemon(workdir, sim, loop=args.daemon_loop))
                running: dict[str, competitors.Competitor] = {}
                if "competitors" in args.only:
                    for start in (competitors.running_litellm, competitors.running_ccr):
                        progress(f"starting {start.__name__.removeprefix('running_')}")
                        found = stack.enter_context(
                            start(workdir, sim, install=args.install, progress=progress)
                        )
                        if isinstance(found, competitors.Skipped):
                            progress(f"skipping {found.name}: {found.reason}")
                            results.skipped[found.key] = f"{found.name}: {found.reason}"
                        else:
                            running[found.key] = found
                            results.competitors.append(found)
                measure(results, sim, daemon, running, workdir)
    results.elapsed = time.monotonic() - started
    report = render(results)
    print(report)
    if write:
        splice(args.output, report, template=TEMPLATE)
        progress(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
