"""`python -m bench.floor`: the daemon's pass-through against the floor, a bare aiohttp relay.

    python -m bench.floor [--levels 1,16,64] [--seconds 2] [--rounds 3] [--chunks 200]

The floor is the least a relay built on aiohttp can cost: ``python -m bench.floor serve``
answers ``POST /v1/chat/completions`` by posting the body as it came to the simulator with
aiohttp's default client session and writing every read of the answer back as it comes
(``iter_any``), nothing else: no middlewares, no body parse, no lease, no metrics, no logs.
This starts one simulator, the daemon (production defaults, as `bench.run` starts it) and the
floor relay in front of it, then measures both, in turn and for the same window length, with
the benchmark's closed-loop load of 200-chunk streams: CPU time per relayed chunk of each
proxy process, the median over ``--rounds`` windows. The difference is what the daemon adds
per chunk; `bench.run`'s target (<= 10 µs per chunk) reads against the floor's figure. Prints
a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import scenarios
from bench.daemon import (
    SERVED,
    Sim,
    StartError,
    free_port,
    http_get_status,
    running_daemon,
    running_sim,
    stop_process,
    wait_until,
)
from bench.load import run_load
from bench.procinfo import cpu_seconds
from bench.routes import Route, daemon_openai
from bench.stats import median

UPSTREAM_KEY: web.AppKey[str] = web.AppKey("upstream", str)
SESSION_KEY: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)


async def _relay(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION_KEY]
    body = await request.read()
    async with session.post(
        request.app[UPSTREAM_KEY] + request.path,
        data=body,
        headers={"Content-Type": "application/json"},
    ) as upstream:
        response = web.StreamResponse(status=upstream.status)
        response.content_type = upstream.content_type
        await response.prepare(request)
        async for data in upstream.content.iter_any():
            await response.write(data)
        await response.write_eof()
        return response


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def floor_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM_KEY] = upstream

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[SESSION_KEY] = aiohttp.ClientSession(auto_decompress=False)
        yield
        await app[SESSION_KEY].close()

    app.cleanup_ctx.append(session)
    app.router.add_post("/v1/chat/completions", _relay)
    app.router.add_get("/health", health)
    return app


@dataclass
class BareRelay:
    """A bare relay of this module's or bench/readpath.py's, serving in a process of its own."""

    process: subprocess.Popen[bytes]
    host: str
    port: int


@contextlib.contextmanager
def running_bare_relay(
    workdir: Path, module: str, label: str, arguments: list[str]
) -> Iterator[BareRelay]:
    """``python -m MODULE serve ARGUMENTS --host … --port …``, once its /health answers."""
    host, port = "127.0.0.1", free_port()
    command = [sys.executable, "-m", module, "serve", *arguments]
    command += ["--host", host, "--port", str(port)]
    log = workdir / f"{label}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)
    try:
        wait_until(label, lambda: http_get_status(host, port, "/health") == 200, process, log)
        yield BareRelay(process, host, port)
    finally:
        stop_process(process)


def running_floor(workdir: Path, sim: Sim) -> contextlib.AbstractContextManager[BareRelay]:
    return running_bare_relay(workdir, "bench.floor", "floor", ["--upstream", sim.url])


@dataclass
class Measured:
    us_per_chunk: list[float] = field(default_factory=list)
    streams_per_second: list[float] = field(default_factory=list)
    errors: int = 0


def measure_window(
    route: Route, pid: int, concurrency: int, events: int, seconds: float
) -> Measured:
    spec = {
        "mode": "throughput",
        **route.spec(),
        "concurrency": concurrency,
        "warmup": 0.3,
        "duration": seconds,
        "expect_events": events,
    }
    marks: dict[str, float] = {}
    result = run_load(
        spec,
        hooks={
            "window_start": lambda _: marks.__setitem__("start", cpu_seconds(pid)),
            "window_end": lambda _: marks.__setitem__("end", cpu_seconds(pid)),
        },
    )
    used = marks["end"] - marks["start"]
    measured = Measured(errors=int(result["errors"]))
    measured.us_per_chunk.append(used / max(int(result["events"]), 1) * 1e6)
    measured.streams_per_second.append(int(result["events"]) / events / float(result["duration"]))
    return measured


def measure(levels: Sequence[int], seconds: float, rounds: int, chunks: int) -> str:
    reply = scenarios.stream_reply(chunks)
    with tempfile.TemporaryDirectory(prefix="autosred-floor-") as tmp:
        workdir = Path(tmp)
        with (
            running_sim(workdir) as sim,
            running_daemon(workdir, sim) as daemon,
            running_floor(workdir, sim) as floor,
        ):
            host, port = daemon.api
            routes = {
                "floor": (
                    Route("floor", "floor", floor.host, floor.port, "chat", SERVED, reply),
                    floor.process.pid,
                ),
                "daemon": (daemon_openai(host, port, SERVED, reply), daemon.pid),
            }
            events = {key: scenarios.count_events(route) for key, (route, _) in routes.items()}
            if events["floor"] != events["daemon"]:
                raise StartError(f"the floor and the daemon stream differently: {events}")
            rows = []
            for level in levels:
                results = {key: Measured() for key in routes}
                for round_ in range(rounds):
                    order = list(routes) if round_ % 2 == 0 else list(reversed(routes))
                    for key in order:
                        route, pid = routes[key]
                        one = measure_window(route, pid, level, events[key], seconds)
                        results[key].us_per_chunk += one.us_per_chunk
                        results[key].streams_per_second += one.streams_per_second
                        results[key].errors += one.errors
                        scenarios.settle(sim)
                floor_us = median(results["floor"].us_per_chunk)
                daemon_us = median(results["daemon"].us_per_chunk)
                rows.append(
                    f"| {level} | {floor_us:.1f} | {daemon_us:.1f} | {daemon_us - floor_us:+.1f} "
                    f"| {median(results['floor'].streams_per_second):.0f} / "
                    f"{median(results['daemon'].streams_per_second):.0f} "
                    f"| {results['floor'].errors + results['daemon'].errors} |"
                )
    header = [
        f"{chunks}-chunk streams, closed loop, {rounds} windows of {seconds:g} s per proxy and "
        "concurrency, in turn; medians.",
        "",
        "| concurrency | floor µs/chunk | daemon µs/chunk | daemon - floor | streams/s floor / "
        "daemon | errors |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(header + rows)


def _levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the floor relay (what the measurement starts)")
    serve.add_argument("--upstream", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    parser.add_argument("--levels", type=_levels, default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "serve":
        web.run_app(floor_app(args.upstream), host=args.host, port=args.port, print=None)
        return 0
    print(measure(args.levels, args.seconds, args.rounds, args.chunks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
