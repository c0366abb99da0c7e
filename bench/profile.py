"""`python -m bench.profile`: py-spy the daemon while it relays the benchmark's streams.

    .venv/bin/pip install py-spy
    python -m bench.profile [--route openai|anthropic|responses] [--concurrency 64]
                            [--chunks 200] [--seconds 15] [--output /tmp/daemon]

Starts a simulator and a daemon as `bench.run` does, drives ``--concurrency`` closed-loop
``--chunks``-chunk streams through the daemon on ``--route`` (`bench.routes`: the OpenAI
pass-through,
/v1/messages with Claude Code's request, /v1/responses with Codex's), and records the daemon
with ``py-spy record`` (native
frames off, idle frames off, ``--nonblocking`` so that sampling does not pause it). Writes the
collapsed stacks (``--format raw``, the input of flame graph tools) to OUTPUT, and prints the
functions with the most samples, by own time and inclusive.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench import scenarios
from bench.daemon import Daemon, running_daemon, running_sim
from bench.load import LoadProcess, run_load


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy not found: .venv/bin/pip install py-spy")
    return found


def record(pid: int, seconds: float, output: Path) -> None:
    subprocess.run(
        [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        check=True,
        capture_output=True,
    )


def summarize(collapsed: Path, top: int = 25) -> str:
    """Own and inclusive sample counts per function from py-spy's collapsed ("raw") stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue  # a frame name that py-spy read garbled (seen: a thread's memory)
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[_short(frames[-1])] += count
        for name in {_short(frame) for frame in frames}:
            inclusive[name] += count
    lines = [f"{total} samples"]
    for title, counter in (("own time", own), ("inclusive", inclusive)):
        lines.append(f"\n-- top by {title}")
        lines += [
            f"{100 * count / total:5.1f}%  {name}" for name, count in counter.most_common(top)
        ]
    return "\n".join(lines)


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module/path.py)" without the line.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--route", choices=["openai", "anthropic", "responses"], default="openai")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--chunks", type=int, default=200, help="text chunks per stream (few: per-request work)"
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--daemon-loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--output", type=Path, default=Path("/tmp/autosred-daemon-profile.txt"))
    args = parser.parse_args(argv)
    settings = scenarios.Settings(
        warmup=1.0, duration=args.seconds + 4.0, rounds=1, chunks=args.chunks
    )
    with tempfile.TemporaryDirectory(prefix="autosred-profile-") as tmp:
        workdir = Path(tmp)
        with (
            running_sim(workdir) as sim,
            running_daemon(workdir, sim, loop=args.daemon_loop) as daemon,
        ):
            reply = scenarios.stream_reply(settings.chunks)
            (route,) = scenarios.build_routes([args.route], sim, daemon, {}, reply)
            events = scenarios.expected_events([route])[route.key]
            spec = scenarios.throughput_spec(
                route, args.concurrency, events=events, settings=settings
            )
            recorder: list[threading.Thread] = []

            def start_recording(_: LoadProcess, daemon: Daemon = daemon) -> None:
                thread = threading.Thread(
                    target=record, args=(daemon.pid, args.seconds, args.output)
                )
                thread.start()
                recorder.append(thread)

            result = run_load(spec, hooks={"window_start": start_recording})
            for thread in recorder:
                thread.join()
    seconds = float(result["duration"])
    print(
        f"{args.route}, concurrency {args.concurrency}: {result['events'] / seconds:,.0f} "
        f"events/s, {result['requests'] / seconds:.1f} req/s through the daemon (while profiled)"
    )
    print(f"collapsed stacks: {args.output}")
    print(summarize(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
