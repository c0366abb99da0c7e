"""The measurements against a running simulator and daemon: relay throughput, added time to
first byte, and the daemon's memory. Each returns plain data for `bench.report`."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench.daemon import SERVED, Daemon, Sim
from bench.load import LoadProcess, run_load, shown_command
from bench.procinfo import busy_cpu_seconds, cpu_seconds, peak_rss_mib, rss_mib
from bench.stats import median, percentile

CHAT_PATH = "/v1/chat/completions"
STREAM_TEXT = "Lorem ipsum "
STREAM_REPEAT = 67
"""804 characters: 200 chunks carry about 4 characters each, about one token."""


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs; `QUICK` for a smoke run of about 30 s."""

    levels: tuple[int, ...] = (1, 16, 64)
    chunks: int = 200
    warmup: float = 0.5
    """Seconds of load before each measurement window opens."""
    duration: float = 10.0
    """Measured seconds per path and concurrency, split over `rounds` runs."""
    rounds: int = 4
    ttfb_pairs: int = 200
    ttfb_chunks: int = 16
    hold_streams: int = 64
    hold_tokens_per_second: float = 20.0
    hold_sample_seconds: float = 3.0
    ctl_runs: int = 20


FULL = Settings()
QUICK = Settings(
    warmup=0.3, duration=2.0, rounds=2, ttfb_pairs=50, hold_sample_seconds=1.0, ctl_runs=5
)


def chat_body(model: str, reply: dict[str, Any]) -> dict[str, Any]:
    """A streamed chat request whose reply the simulator takes from the ``#sim`` directive."""
    directive = "#sim " + json.dumps(reply, separators=(",", ":"))
    return {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": f"Benchmark stream.\n{directive}"}],
    }


def stream_reply(chunks: int, tokens_per_second: float | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"text": STREAM_TEXT, "repeat": STREAM_REPEAT, "chunks": chunks}
    if tokens_per_second is not None:
        reply["tokens_per_second"] = tokens_per_second
    return reply


# The daemon is asked for the served name too, so both paths get byte-identical requests (an
# alias would add one JSON re-encode of a ~300-byte body in the daemon).
def _direct(sim: Sim) -> dict[str, Any]:
    return {"host": sim.host, "port": sim.port}


def _through(daemon: Daemon) -> dict[str, Any]:
    host, port = daemon.api
    return {"host": host, "port": port}


def count_events(host: str, port: int, body: dict[str, Any]) -> int:
    """One request with the standard library: how many ``data:`` events the stream has."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        payload = json.dumps(body).encode()
        connection.request(
            "POST", CHAT_PATH, body=payload, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        text = response.read()
        if response.status != 200:
            raise RuntimeError(f"{host}:{port} answered {response.status}: {text[:300]!r}")
        return (b"\n" + text).count(b"\ndata:")
    finally:
        connection.close()


def expected_events(sim: Sim, daemon: Daemon, chunks: int) -> int:
    """Warm both paths up and check that they deliver the same stream."""
    body = chat_body(SERVED, stream_reply(chunks))
    direct = count_events(sim.host, sim.port, body)
    through = count_events(*daemon.api, body)
    if direct != through:
        raise RuntimeError(f"direct stream has {direct} events, through the daemon {through}")
    return direct


@dataclass
class Throughput:
    """One path at one concurrency, summed over its runs."""

    path: str
    """``direct`` or ``daemon``."""
    concurrency: int
    duration: float = 0.0
    requests: int = 0
    events: int = 0
    errors: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    """CPU time inside the measurement windows: sim, daemon, loadgen, and ``other`` (everything
    else on the machine, from /proc/stat)."""
    command: str = ""

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.duration

    @property
    def events_per_second(self) -> float:
        return self.events / self.duration

    def cpu_per_event_us(self, process: str) -> float:
        """CPU microseconds ``process`` spent per event relayed."""
        return self.cpu_seconds.get(process, 0.0) / max(self.events, 1) * 1e6

    def cores(self, process: str) -> float:
        """Average CPU cores ``process`` used while measured."""
        return self.cpu_seconds.get(process, 0.0) / self.duration


def throughput_spec(
    sim: Sim, daemon: Daemon, path: str, concurrency: int, *, events: int, settings: Settings
) -> dict[str, Any]:
    """The load generator's spec for one run on ``path`` (``direct`` or ``daemon``)."""
    return {
        "mode": "throughput",
        **(_direct(sim) if path == "direct" else _through(daemon)),
        "path": CHAT_PATH,
        "body": chat_body(SERVED, stream_reply(settings.chunks)),
        "concurrency": concurrency,
        "warmup": settings.warmup,
        "duration": settings.duration / settings.rounds,
        "expect_events": events,
    }


def _throughput_run(
    sim: Sim, daemon: Daemon, into: Throughput, *, events: int, settings: Settings
) -> None:
    spec = throughput_spec(
        sim, daemon, into.path, into.concurrency, events=events, settings=settings
    )
    marks: dict[str, tuple[float, ...]] = {}

    def mark(name: str) -> None:
        marks[name] = (
            time.perf_counter(),
            cpu_seconds(sim.pid),
            cpu_seconds(daemon.pid),
            busy_cpu_seconds(),
        )

    result = run_load(
        spec,
        hooks={"window_start": lambda _: mark("start"), "window_end": lambda _: mark("end")},
    )
    (_, sim0, daemon0, busy0), (_, sim1, daemon1, busy1) = marks["start"], marks["end"]
    loadgen = float(result["cpu_seconds"])
    used = {"sim": sim1 - sim0, "daemon": daemon1 - daemon0, "loadgen": loadgen}
    used["other"] = max(0.0, (busy1 - busy0) - sum(used.values()))
    into.duration += float(result["duration"])
    into.requests += int(result["requests"])
    into.events += int(result["events"])
    into.errors += int(result["errors"])
    for process, seconds in used.items():
        into.cpu_seconds[process] = into.cpu_seconds.get(process, 0.0) + seconds
    into.command = shown_command(spec)


def throughput(
    sim: Sim, daemon: Daemon, *, concurrency: int, events: int, settings: Settings
) -> tuple[Throughput, Throughput]:
    """Direct and through the daemon at one concurrency, in ``settings.rounds`` rounds of
    alternating order (direct, daemon, daemon, direct, ...) so that drift in the machine's
    other load falls on both alike."""
    direct = Throughput("direct", concurrency)
    through = Throughput("daemon", concurrency)
    for round_ in range(settings.rounds):
        order = (direct, through) if round_ % 2 == 0 else (through, direct)
        for measured in order:
            _throughput_run(sim, daemon, measured, events=events, settings=settings)
            time.sleep(0.3)  # streams dropped at the end of a window are torn down
    return direct, through


@dataclass
class AddedTtfb:
    pairs: int
    errors: int
    direct_first_byte_ms: list[float]
    daemon_first_byte_ms: list[float]
    direct_first_event_ms: list[float]
    daemon_first_event_ms: list[float]
    command: str

    @property
    def added_first_byte_ms(self) -> list[float]:
        pairs = zip(self.direct_first_byte_ms, self.daemon_first_byte_ms, strict=True)
        return [through - direct for direct, through in pairs]

    @property
    def added_first_event_ms(self) -> list[float]:
        pairs = zip(self.direct_first_event_ms, self.daemon_first_event_ms, strict=True)
        return [through - direct for direct, through in pairs]

    def summary(self, values: list[float]) -> tuple[float, float]:
        return median(values), percentile(values, 99)


def added_ttfb(sim: Sim, daemon: Daemon, *, events: int, settings: Settings) -> AddedTtfb:
    spec = {
        "mode": "ttfb",
        "targets": [_direct(sim), _through(daemon)],
        "path": CHAT_PATH,
        "body": chat_body(SERVED, stream_reply(settings.ttfb_chunks)),
        "pairs": settings.ttfb_pairs,
        "expect_events": events,
    }
    result = run_load(spec)

    def ms(values: list[float]) -> list[float]:
        return [value * 1000.0 for value in values]

    return AddedTtfb(
        pairs=settings.ttfb_pairs,
        errors=int(result["errors"]),
        direct_first_byte_ms=ms(result["first_byte"][0]),
        daemon_first_byte_ms=ms(result["first_byte"][1]),
        direct_first_event_ms=ms(result["first_event"][0]),
        daemon_first_event_ms=ms(result["first_event"][1]),
        command=shown_command(spec),
    )


def sample_rss(pid: int, seconds: float, interval: float = 0.1) -> list[float]:
    samples = [rss_mib(pid)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(interval)
        samples.append(rss_mib(pid))
    return samples


@dataclass
class Memory:
    idle_mib: float = 0.0
    streams: int = 0
    open_median_mib: float = 0.0
    open_max_mib: float = 0.0
    after_mib: float = 0.0
    peak_mib: float = 0.0
    """VmHWM: the highest RSS over the daemon's life (the unpaced c=64 run included)."""
    hold_command: str = ""
    errors: int = 0


def idle_rss(daemon: Daemon) -> float:
    return median(sample_rss(daemon.pid, 0.5))


def rss_with_open_streams(daemon: Daemon, memory: Memory, *, settings: Settings) -> None:
    """Hold ``settings.hold_streams`` slow streams open through the daemon and sample its RSS."""
    # Long enough never to end by itself while sampling; dropped when sampling is done.
    reply = stream_reply(100_000, tokens_per_second=settings.hold_tokens_per_second)
    spec = {
        "mode": "hold",
        **_through(daemon),
        "path": CHAT_PATH,
        "body": chat_body(SERVED, reply),
        "concurrency": settings.hold_streams,
    }
    samples: list[float] = []

    def on_open(load: LoadProcess) -> None:
        time.sleep(0.3)  # let every stream's first writes settle
        samples.extend(sample_rss(daemon.pid, settings.hold_sample_seconds))
        load.send_line("release")

    result = run_load(spec, hooks={"open": on_open})
    memory.streams = int(result["open"])
    memory.errors = int(result["errors"])
    memory.open_median_mib = median(samples)
    memory.open_max_mib = max(samples)
    memory.hold_command = shown_command(spec)


def settle_and_finish(daemon: Daemon, memory: Memory) -> None:
    time.sleep(1.0)  # dropped streams are torn down
    memory.after_mib = idle_rss(daemon)
    memory.peak_mib = peak_rss_mib(daemon.pid)
