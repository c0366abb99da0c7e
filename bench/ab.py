"""`python -m bench.ab`: two versions of the daemon, measured at the same instant.

    python -m bench.ab --base CHECKOUT [--head CHECKOUT] [--routes openai,anthropic,responses]
                       [--levels 1,16,64] [--rounds 5] [--seconds 1.5] [--chunks 200]

On a shared machine the daemon's CPU per event moves by half between runs minutes apart (the
other load changes how many events each read carries, and what a CPU second buys), so a
change is judged against the code before it in the same seconds: one simulator, a daemon from
each checkout (each run by that checkout's own ``.venv/bin/python``, configured as `bench.run`
configures it), and for every route and concurrency one window in which both daemons take the
same closed-loop load at once, each from its own load generator. Both see the same machine;
the ratio head/base of their CPU per event in each window is what the table's last column
sums up (median, and the spread over the rounds). ``--head`` defaults to this checkout.
Prints a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import routes, scenarios
from bench.daemon import (
    SERVED,
    Daemon,
    Sim,
    _clean_env,
    daemon_config,
    running_sim,
    stop_process,
    wait_until,
)
from bench.load import ROOT, run_load
from bench.procinfo import cpu_seconds
from bench.stats import median

ROUTES: dict[str, Callable[[str, int, str, dict[str, object]], routes.Route]] = {
    "openai": routes.daemon_openai,
    "anthropic": routes.daemon_anthropic,
    "responses": routes.daemon_responses,
}


@contextlib.contextmanager
def daemon_from(checkout: Path, workdir: Path, sim: Sim) -> Iterator[Daemon]:
    """The daemon of ``checkout`` (its own virtualenv), configured as `bench.run`'s."""
    workdir.mkdir()
    config_path = workdir / "autosred.yaml"
    config_path.write_text(json.dumps(daemon_config(workdir, sim)))  # JSON is YAML
    command = [str(checkout / ".venv/bin/python"), "-m", "autosred.daemon"]
    command += ["--config", str(config_path)]
    log = workdir / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=out, env=_clean_env(), cwd=checkout, start_new_session=True
        )
    daemon = Daemon(process, workdir / "admin.sock", config_path, log, command)
    try:
        wait_until(
            f"autosred ({checkout})",
            lambda: all(model["state"] == "ready" for model in daemon.status()["models"]),
            process,
            log,
        )
        status = daemon.status()
        daemon.pid = int(status["pid"])
        daemon.listeners = dict(status["listeners"])
        yield daemon
    finally:
        stop_process(process)


@dataclass
class Window:
    us_per_event: float
    streams_per_second: float
    errors: int


@dataclass
class Series:
    base: list[Window] = field(default_factory=list)
    head: list[Window] = field(default_factory=list)


def _window(route: routes.Route, daemon: Daemon, concurrency: int, seconds: float) -> Window:
    events = scenarios.count_events(route)
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
            "window_start": lambda _: marks.__setitem__("start", cpu_seconds(daemon.pid)),
            "window_end": lambda _: marks.__setitem__("end", cpu_seconds(daemon.pid)),
        },
    )
    received = int(result["events"])
    return Window(
        (marks["end"] - marks["start"]) / max(received, 1) * 1e6,
        received / events / float(result["duration"]),
        int(result["errors"]),
    )


def _together(
    key: str, daemons: dict[str, Daemon], concurrency: int, seconds: float, reply: dict[str, object]
) -> dict[str, Window]:
    """One window per daemon, both at once."""
    measured: dict[str, Window] = {}
    failures: list[BaseException] = []

    def one(name: str) -> None:
        host, port = daemons[name].api
        route = ROUTES[key](host, port, SERVED, reply)
        try:
            measured[name] = _window(route, daemons[name], concurrency, seconds)
        except BaseException as exc:  # re-raised below, in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(name,)) for name in daemons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return measured


def measure(
    base: Path,
    head: Path,
    *,
    keys: Sequence[str],
    levels: Sequence[int],
    rounds: int,
    seconds: float,
    chunks: int,
) -> str:
    reply = scenarios.stream_reply(chunks)
    series: dict[tuple[str, int], Series] = {}
    with tempfile.TemporaryDirectory(prefix="autosred-ab-") as tmp:
        workdir = Path(tmp)
        with (
            running_sim(workdir) as sim,
            daemon_from(base, workdir / "base", sim) as base_daemon,
            daemon_from(head, workdir / "head", sim) as head_daemon,
        ):
            daemons = {"base": base_daemon, "head": head_daemon}
            for _ in range(rounds):
                for key in keys:
                    for level in levels:
                        both = _together(key, daemons, level, seconds, reply)
                        one = series.setdefault((key, level), Series())
                        one.base.append(both["base"])
                        one.head.append(both["head"])
                        scenarios.settle(sim)
    lines = [
        f"{chunks}-chunk streams, closed loop; {rounds} windows of {seconds:g} s per route and "
        "concurrency, both daemons loaded at once in each; base: "
        f"`{base}`, head: `{head}`. Medians, [least - most] over the windows.",
        "",
        "| route | concurrency | base µs/event | head µs/event | head/base, same window "
        "| streams/s base / head | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for (key, level), one in series.items():
        base_us = [w.us_per_event for w in one.base]
        head_us = [w.us_per_event for w in one.head]
        ratios = sorted(h / b for h, b in zip(head_us, base_us, strict=True) if b)
        errors = sum(w.errors for w in one.base + one.head)
        lines.append(
            f"| {key} | {level} | {median(base_us):.1f} [{min(base_us):.1f}-{max(base_us):.1f}] "
            f"| {median(head_us):.1f} [{min(head_us):.1f}-{max(head_us):.1f}] "
            f"| {median(ratios):.2f} [{ratios[0]:.2f}-{ratios[-1]:.2f}] "
            f"| {median([w.streams_per_second for w in one.base]):.0f} / "
            f"{median([w.streams_per_second for w in one.head]):.0f} | {errors} |"
        )
    return "\n".join(lines)


def _names(text: str) -> list[str]:
    names = [part for part in text.split(",") if part]
    unknown = set(names) - set(ROUTES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown routes {sorted(unknown)}; known: {list(ROUTES)}")
    return names


def _levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="a checkout with its .venv")
    parser.add_argument("--head", type=Path, default=ROOT, help="default: this checkout")
    parser.add_argument("--routes", type=_names, default=list(ROUTES))
    parser.add_argument("--levels", type=_levels, default=[1, 16, 64])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--chunks", type=int, default=200)
    args = parser.parse_args(argv)
    report = measure(
        args.base.resolve(),
        args.head.resolve(),
        keys=args.routes,
        levels=args.levels,
        rounds=args.rounds,
        seconds=args.seconds,
        chunks=args.chunks,
    )
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
