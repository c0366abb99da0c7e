"""The measurements against a running simulator, daemon and competing proxies: streaming
throughput per route, added time to first byte, and the daemon's memory. Each returns plain
data for `bench.report`."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import routes
from bench.competitors import Competitor
from bench.daemon import SERVED, Daemon, Sim
from bench.load import LoadProcess, run_load, shown_command
from bench.procinfo import busy_cpu_seconds, peak_rss_mib, rss_mib, tree_cpu_seconds
from bench.routes import Route
from bench.stats import median, percentile

STREAM_TEXT = "Lorem ipsum "
STREAM_REPEAT = 67
"""804 characters: 200 chunks carry about 4 characters each, about one token."""
ROUTE_ORDER = ("direct", "direct_usage", "openai", "anthropic", "responses", "litellm", "ccr")


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs; `QUICK` for a smoke run."""

    levels: tuple[int, ...] = (1, 16, 64)
    chunks: int = 200
    warmup: float = 0.5
    """Seconds of load before each measurement window opens."""
    duration: float = 6.0
    """Measured seconds per route and concurrency, split over `rounds` runs."""
    rounds: int = 2
    """Runs per route and concurrency: forward order, then reversed (A B C, C B A)."""
    ttfb_pairs: int = 200
    ttfb_chunks: int = 16
    hold_streams: int = 64
    hold_tokens_per_second: float = 20.0
    hold_sample_seconds: float = 3.0
    ctl_runs: int = 20


FULL = Settings()
QUICK = Settings(
    warmup=0.3, duration=1.0, rounds=2, ttfb_pairs=40, hold_sample_seconds=1.0, ctl_runs=5
)


def stream_reply(chunks: int, tokens_per_second: float | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"text": STREAM_TEXT, "repeat": STREAM_REPEAT, "chunks": chunks}
    if tokens_per_second is not None:
        reply["tokens_per_second"] = tokens_per_second
    return reply


def chat_body(model: str, reply: dict[str, Any]) -> dict[str, Any]:
    return routes.chat_body(model, reply)


def build_routes(
    keys: Sequence[str],
    sim: Sim,
    daemon: Daemon,
    competitors: Mapping[str, Competitor],
    reply: dict[str, Any],
) -> list[Route]:
    """The routes named in ``keys`` (those whose proxy runs), in `ROUTE_ORDER`."""
    host, port = daemon.api
    built = []
    for key in ROUTE_ORDER:
        if key not in keys:
            continue
        if key == "direct":
            built.append(routes.direct(sim.host, sim.port, SERVED, reply))
        elif key == "direct_usage":
            built.append(routes.direct_usage(sim.host, sim.port, SERVED, reply))
        elif key == "openai":
            built.append(routes.daemon_openai(host, port, SERVED, reply))
        elif key == "anthropic":
            built.append(routes.daemon_anthropic(host, port, SERVED, reply))
        elif key == "responses":
            built.append(routes.daemon_responses(host, port, SERVED, reply))
        elif key in competitors:
            competitor = competitors[key]
            make = routes.litellm if key == "litellm" else routes.ccr
            built.append(make(competitor.host, competitor.port, SERVED, reply))
    return built


class ProbeError(RuntimeError):
    """A route did not deliver a complete stream."""


def count_events(route: Route) -> int:
    """One request with the standard library: how many events the route's stream has."""
    connection = http.client.HTTPConnection(route.host, route.port, timeout=60)
    try:
        payload = json.dumps(route.body).encode()
        connection.request(
            "POST",
            route.path,
            body=payload,
            headers={"Content-Type": "application/json", **route.headers},
        )
        response = connection.getresponse()
        text = response.read()
    except OSError as exc:
        raise ProbeError(f"{route.label}: {exc}") from exc
    finally:
        connection.close()
    if response.status != 200:
        raise ProbeError(f"{route.label} answered {response.status}: {text[:300]!r}")
    marker = b"\n" + route.marker.encode()
    events = (b"\n" + text).count(marker)
    if events < 3:
        raise ProbeError(f"{route.label}: a stream of {events} events: {text[:300]!r}")
    return events


def expected_events(selected: Sequence[Route]) -> dict[str, int]:
    """Warm every route up (twice) and count its events per stream. The OpenAI pass-through
    must deliver what the simulator does."""
    counts = {}
    for route in selected:
        count_events(route)
        counts[route.key] = count_events(route)
    if "openai" in counts and "direct" in counts and counts["openai"] != counts["direct"]:
        raise ProbeError(
            f"direct stream has {counts['direct']} events, through the daemon {counts['openai']}"
        )
    return counts


Pids = Callable[[], dict[str, list[int]]]
"""The processes whose CPU time is read, by key (``sim``, ``daemon``, ``litellm``, ``ccr``)."""


def process_pids(sim: Sim, daemon: Daemon, competitors: Mapping[str, Competitor]) -> Pids:
    def pids() -> dict[str, list[int]]:
        found = {"sim": [sim.pid], "daemon": [daemon.pid]}
        for key, competitor in competitors.items():
            found[key] = competitor.pids()
        return found

    return pids


def settle(sim: Sim, limit: float = 10.0) -> None:
    """Wait until the simulator streams nothing (a proxy may go on reading a stream that its
    client dropped at the end of a window), then a little more for the teardown."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection(sim.host, sim.port, timeout=5)
        try:
            connection.request("GET", "/sim/stats")
            running = int(json.loads(connection.getresponse().read())["running"])
        finally:
            connection.close()
        if running == 0:
            break
        time.sleep(0.05)
    time.sleep(0.1)


@dataclass
class Throughput:
    """One route at one concurrency, summed over its runs."""

    route: str
    """The route's key (`bench.routes`)."""
    label: str
    concurrency: int
    events_per_stream: int
    proxy: str | None = None
    duration: float = 0.0
    requests: int = 0
    events: int = 0
    errors: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    """CPU time inside the measurement windows: sim, daemon, litellm, ccr (those running),
    loadgen, and ``other`` (everything else on the machine, from /proc/stat)."""
    command: str = ""

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.duration

    @property
    def events_per_second(self) -> float:
        return self.events / self.duration

    @property
    def streams_per_second(self) -> float:
        """Events per second in whole streams' worth: what compares across dialects."""
        return self.events_per_second / self.events_per_stream

    def ratio(self, direct: Throughput) -> float:
        """This route's throughput relative to ``direct``, stream for stream."""
        if direct.events == 0:
            return float("nan")
        return self.streams_per_second / direct.streams_per_second

    def cpu_per_event_us(self, process: str | None = None) -> float:
        """CPU microseconds ``process`` (default: the route's proxy) spent per event that
        reached the client."""
        key = process or self.proxy
        if key is None:
            return float("nan")
        return self.cpu_seconds.get(key, 0.0) / max(self.events, 1) * 1e6

    def cpu_per_stream_ms(self, process: str) -> float:
        """CPU milliseconds ``process`` spent per stream's worth of events."""
        streams = self.events / self.events_per_stream
        if streams == 0:
            return float("nan")
        return self.cpu_seconds.get(process, 0.0) / streams * 1e3

    def path_cpu_per_stream_ms(self) -> float:
        """CPU milliseconds per stream of every process on the path: simulator, proxy (if
        any), load generator."""
        keys = ["sim", "loadgen", *([self.proxy] if self.proxy else [])]
        return sum(self.cpu_per_stream_ms(key) for key in keys)

    def cpu_cost_ratio(self, direct: Throughput) -> float:
        """The ratio to ``direct`` if CPU time alone limited both: direct's CPU per stream
        over this route's (the CPU-cost ratio)."""
        return _ratio(direct.path_cpu_per_stream_ms(), self.path_cpu_per_stream_ms())

    def cores(self, process: str | None = None) -> float:
        """Average CPU cores ``process`` (default: the route's proxy) used while measured."""
        key = process or self.proxy
        if key is None:
            return float("nan")
        return self.cpu_seconds.get(key, 0.0) / self.duration


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def throughput_spec(
    route: Route, concurrency: int, *, events: int, settings: Settings
) -> dict[str, Any]:
    """The load generator's spec for one run on ``route``."""
    return {
        "mode": "throughput",
        **route.spec(),
        "concurrency": concurrency,
        "warmup": settings.warmup,
        "duration": settings.duration / settings.rounds,
        "expect_events": events,
    }


def _throughput_run(route: Route, into: Throughput, pids: Pids, *, settings: Settings) -> None:
    spec = throughput_spec(
        route, into.concurrency, events=into.events_per_stream, settings=settings
    )
    marks: dict[str, tuple[float, dict[str, float]]] = {}
    watched: dict[str, list[int]] = {}

    def mark(name: str) -> None:
        if not watched:
            watched.update(pids())
        used = {key: tree_cpu_seconds(group) for key, group in watched.items()}
        marks[name] = (busy_cpu_seconds(), used)

    result = run_load(
        spec,
        hooks={"window_start": lambda _: mark("start"), "window_end": lambda _: mark("end")},
    )
    (busy0, start), (busy1, end) = marks["start"], marks["end"]
    used = {key: end[key] - start[key] for key in start}
    used["loadgen"] = float(result["cpu_seconds"])
    used["other"] = max(0.0, (busy1 - busy0) - sum(used.values()))
    into.duration += float(result["duration"])
    into.requests += int(result["requests"])
    into.events += int(result["events"])
    into.errors += int(result["errors"])
    for process, seconds in used.items():
        into.cpu_seconds[process] = into.cpu_seconds.get(process, 0.0) + seconds
    into.command = shown_command(spec)


def throughput(
    selected: Sequence[Route],
    *,
    concurrency: int,
    events: Mapping[str, int],
    settings: Settings,
    pids: Pids,
    sim: Sim,
) -> dict[str, Throughput]:
    """Every route at one concurrency, in ``settings.rounds`` rounds; each round takes the
    routes in another order (reversed every other round, rotated every two) so that drift in
    the machine's other load falls on all of them alike."""
    measured = {
        route.key: Throughput(
            route.key,
            route.label,
            concurrency,
            events_per_stream=events[route.key],
            proxy=route.proxy,
        )
        for route in selected
    }
    for round_ in range(settings.rounds):
        shift = round_ // 2 % max(len(selected), 1)
        order = list(selected[shift:]) + list(selected[:shift])
        if round_ % 2:
            order.reverse()
        for route in order:
            _throughput_run(route, measured[route.key], pids, settings=settings)
            settle(sim)  # streams dropped at the end of a window are torn down
    return measured


@dataclass
class AddedTtfb:
    """Sequential rounds of one request per route; the first route is ``direct``."""

    routes: list[str]
    labels: dict[str, str]
    pairs: int
    errors: dict[str, int]
    first_byte_ms: dict[str, list[float]]
    first_event_ms: dict[str, list[float]]
    command: str

    @property
    def total_errors(self) -> int:
        return sum(self.errors.values())

    def added(self, route: str, *, event: bool = False) -> list[float]:
        """Per round: ``route``'s time to first byte (or first event) minus direct's."""
        values = self.first_event_ms if event else self.first_byte_ms
        pairs = zip(values[self.routes[0]], values[route], strict=True)
        return [through - direct for direct, through in pairs]

    def summary(self, values: list[float]) -> tuple[float, float]:
        return median(values), percentile(values, 99)


def added_ttfb(
    selected: Sequence[Route], *, events: Mapping[str, int], settings: Settings
) -> AddedTtfb:
    assert selected[0].key == "direct"
    targets = []
    for route in selected:
        target = route.spec()
        target["expect_events"] = events[route.key]
        targets.append(target)
    spec = {"mode": "ttfb", "targets": targets, "pairs": settings.ttfb_pairs}
    result = run_load(spec)

    def ms(values: list[float]) -> list[float]:
        return [value * 1000.0 for value in values]

    keys = [route.key for route in selected]
    return AddedTtfb(
        routes=keys,
        labels={route.key: route.label for route in selected},
        pairs=settings.ttfb_pairs,
        errors=dict(zip(keys, result["errors_per_target"], strict=True)),
        first_byte_ms={k: ms(v) for k, v in zip(keys, result["first_byte"], strict=True)},
        first_event_ms={k: ms(v) for k, v in zip(keys, result["first_event"], strict=True)},
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
    # Long enough never to end by itself while sampling (1,000 s), dropped when sampling is
    # done; not longer: the simulator prepares every chunk of an answer before the first.
    reply = stream_reply(20_000, tokens_per_second=settings.hold_tokens_per_second)
    host, port = daemon.api
    route = routes.daemon_openai(host, port, SERVED, reply)
    spec = {"mode": "hold", **route.spec(), "concurrency": settings.hold_streams}
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
