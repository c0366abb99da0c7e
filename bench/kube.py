"""The kubernetes engine's figures: how soon a held client gets its first byte once
the model's pod turns Ready, and what the daemon costs while its model is at zero.

Everything runs against the fake k3s (``fake_k3s/``, the test suite's too), started here
as its own process, whose pods run autosred-sim on their own loopback addresses; the daemons
reach it only through the official client over HTTP, as they would a k3s node.

**Ready to first byte.** A streaming chat request is sent to a daemon whose model is at zero
and held while the pod is scheduled, pulls its image and starts. Reference point: the moment
the fake's kubelet marks the pod Ready (its readiness probe got 200 from the sim's /health and
the kubelet is about to write the Ready condition). The fake logs that moment (``pod NS/NAME:
ready at URL``); it is started here with a log format that adds the record's creation time
(``time.time()``, microseconds), so nothing outside bench/ changes. The pod's own
``lastTransitionTime`` has only second resolution, and the daemon's ``engine.pod_ready`` /
``scaler.ready`` are the end of what is measured, not its start. End point: the wall-clock time
at which the client's ``recv`` returned the bytes holding the first ``data:`` line of the SSE
body. All clocks are the same machine's ``CLOCK_REALTIME``. The daemon's own log (JSON,
millisecond ``ts``) splits the interval: Ready -> ``engine.pod_ready`` (the watch delivered the
pod update and the daemon's own ``GET /health`` answered) -> ``scaler.ready`` (the gate grants
the held requests) -> first ``data:`` byte (the upstream request to the sim and the relay).
Between wakes the model is scaled down with ``autosrectl scale down MODEL --wait``. Two
daemons, one with the default ``engine.health_interval`` and one with a short one, take turns.

**Idle CPU.** After the wakes, with every model at zero, the daemons (kubernetes engine, both
intervals, and one with the process engine whose model also woke and stopped once) are left
to settle and then read over the same window: user + system CPU time from
``/proc/<pid>/stat`` (all threads; 10 ms ticks) and context switches summed over
``/proc/<pid>/task/*/status`` (``voluntary_ctxt_switches``: the times a thread went to sleep,
i.e. about one wake-up each).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ctl import ctl_executable
from bench.daemon import (
    MODEL,
    SERVED,
    Daemon,
    StartError,
    _clean_env,
    daemon_command,
    free_port,
    stop_process,
    wait_until,
)
from bench.procinfo import cpu_seconds
from bench.routes import chat_body
from bench.stats import median, percentile

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 100.0
"""Pod Ready to the first byte at a held client, median (target in BENCHMARKS.md)."""
DEFAULT_HEALTH_INTERVAL = 0.25
"""``engine.health_interval``'s default (autosred/config.py)."""
SHORT_HEALTH_INTERVAL = 0.05
IMAGE = "vllm/vllm-openai:v0.24.0"
REPLY = {"text": "Lorem ipsum ", "repeat": 4, "chunks": 16}
"""A short answer: the figure is about the first byte, not the stream."""
KEEPALIVE_AFTER = 0.3
"""``scaler.keepalive_after`` for these daemons (default 2 s): the client gets its 200 and
keep-alive comments during the wake, as a client held through a real 60-90 s cold start does,
with the short wakes of the fake."""

FAKE_LAUNCHER = (
    "import logging, sys; "
    "logging.basicConfig(level=logging.INFO, stream=sys.stderr, "
    "format='%(created).6f %(name)s %(message)s'); "
    "from fake_k3s.__main__ import main; sys.exit(main(sys.argv[1:]))"
)
"""``python -m fake_k3s`` with a time stamp on each log line (its own
``basicConfig`` is then a no-op)."""
_FAKE_READY = re.compile(r"^(\d+\.\d+) \S+ pod ([^/\s]+)/(\S+): ready at (\S+)$")


@dataclass(frozen=True)
class KubeSettings:
    wakes: int = 8
    """Wakes per daemon (per health interval)."""
    pull_delay: float = 0.2
    start_delay: float = 0.5
    settle: float = 3.0
    """Seconds after the last scale-down before the idle window opens."""
    idle_seconds: float = 30.0


FULL = KubeSettings()
QUICK = KubeSettings(wakes=3, settle=2.0, idle_seconds=10.0)


@dataclass
class FakeK3s:
    process: subprocess.Popen[bytes]
    url: str
    kubeconfig: Path
    log_path: Path
    command: str
    """As shown in the report: the standalone command (without the time-stamping launcher)."""

    def control(self, **settings: Any) -> None:
        host, _, port = self.url.removeprefix("http://").rpartition(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            connection.request("POST", "/__control", body=json.dumps(settings))
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise StartError(f"fake k3s /__control: HTTP {response.status}: {body[:200]!r}")
        finally:
            connection.close()


@contextlib.contextmanager
def running_fake(workdir: Path, settings: KubeSettings) -> Iterator[FakeK3s]:
    port = free_port()
    kubeconfig = workdir / "kubeconfig.yaml"
    args = [
        "--port",
        str(port),
        "--kubeconfig-out",
        str(kubeconfig),
        "--pull-delay",
        str(settings.pull_delay),
        "--start-delay",
        str(settings.start_delay),
    ]
    log, out = workdir / "fake-k3s.log", workdir / "fake-k3s.out"
    with log.open("wb") as err, out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-c", FAKE_LAUNCHER, *args],
            cwd=ROOT,
            stdout=stdout,
            stderr=err,
            env=_clean_env(),
            start_new_session=True,
        )
    shown = " ".join(["python -m fake_k3s", *(a.replace(str(workdir), "$BENCH_DIR") for a in args)])
    try:
        wait_until("fake k3s", lambda: b"fake-k3s: serving" in out.read_bytes(), process, log)
        yield FakeK3s(process, f"http://127.0.0.1:{port}", kubeconfig, log, shown)
    finally:
        stop_process(process)


def base_config(directory: Path, engine: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """Production defaults (info logs, every listener) except addresses, paths and
    ``scaler.keepalive_after``."""
    return {
        "api": {"listen": "127.0.0.1:0"},
        "codex": {"listen": "127.0.0.1:0"},
        "metrics": {"listen": "127.0.0.1:0"},
        "admin": {"socket": str(directory / "admin.sock"), "group": None},
        "state_dir": str(directory / "state"),
        "engine": engine,
        "scaler": {"keepalive_after": KEEPALIVE_AFTER},
        "log": {"level": "info", "format": "json"},
        "recipes_dir": None,
        "recipes": [
            {
                "name": MODEL,
                "served_model_name": SERVED,
                "idle_timeout": "1h",
                "wake_budget": "60s",
                **recipe,
            }
        ],
    }


def kube_config(directory: Path, fake: FakeK3s, namespace: str, interval: float) -> dict[str, Any]:
    engine = {
        "kind": "kubernetes",
        "kubeconfig": str(fake.kubeconfig),
        "namespace": namespace,
        "health_interval": interval,
    }
    recipe = {"model": "org/bench", "image": IMAGE, "vllm_args": ["--max-model-len", "131072"]}
    return base_config(directory, engine, recipe)


def process_config(directory: Path) -> dict[str, Any]:
    command = [
        *("python", "-m", "autosred.sim", "--host", "{host}", "--port", "{port}"),
        *("--model", "{served_model_name}", "--log-level", "WARNING"),
    ]
    command[0] = sys.executable
    return base_config(directory, {"kind": "process"}, {"command": command})


@dataclass
class Subject:
    """One daemon under test."""

    label: str
    directory: Path
    config: dict[str, Any]
    daemon: Daemon
    interval: float | None = None
    """kubernetes: its ``engine.health_interval``."""


def _launch(label: str, directory: Path, config: dict[str, Any]) -> Subject:
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "autosred.yaml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    command = daemon_command(config_path)
    log = directory / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=out, env=_clean_env(), start_new_session=True
        )
    daemon = Daemon(
        process=process,
        admin_socket=directory / "admin.sock",
        config_path=config_path,
        log_path=log,
        command=command,
    )
    return Subject(label, directory, config, daemon)


@contextlib.contextmanager
def running_daemons(specs: list[tuple[str, Path, dict[str, Any]]]) -> Iterator[list[Subject]]:
    """Start every daemon at once, then wait until each answers its admin status."""
    subjects: list[Subject] = []
    try:
        for label, directory, config in specs:
            subjects.append(_launch(label, directory, config))
        for subject in subjects:
            daemon = subject.daemon
            wait_until(
                f"autosred ({subject.label})",
                lambda d=daemon: bool(d.status()["models"]),
                daemon.process,
                daemon.log_path,
            )
            status = daemon.status()
            daemon.pid = int(status["pid"])
            daemon.listeners = dict(status["listeners"])
        yield subjects
    finally:
        for subject in subjects:
            stop_process(subject.daemon.process)


# --- the held client -------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldReply:
    status: int
    sent_at: float
    first_byte_at: float
    """time.time() when the status line arrived (after keepalive_after, during the wake)."""
    first_data_at: float
    """time.time() when the bytes holding the first ``data:`` line arrived."""
    ended_at: float
    data_lines: int


def held_stream(host: str, port: int, body: bytes, *, timeout: float = 90.0) -> HeldReply:
    """POST a streaming chat request and read the whole answer (``Connection: close``),
    time-stamping each read with the wall clock."""
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")
    buffer = bytearray()
    first_byte_at = first_data_at = 0.0
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent_at = time.time()
        sock.sendall(head + body)
        while True:
            data = sock.recv(65536)
            now = time.time()
            if not data:
                break
            if not buffer:
                first_byte_at = now
            buffer += data
            if not first_data_at and b"\ndata:" in buffer:
                first_data_at = now
    ended_at = time.time()
    status = int(buffer[9:12]) if buffer.startswith(b"HTTP/1.1 ") else 0
    if status != 200 or not first_data_at:
        raise StartError(f"held stream: HTTP {status}: {bytes(buffer[:300])!r}")
    return HeldReply(
        status, sent_at, first_byte_at, first_data_at, ended_at, buffer.count(b"\ndata:")
    )


# --- logs ------------------------------------------------------------------------------------


def fake_ready_times(log: Path, offset: int, namespace: str) -> list[tuple[float, str]]:
    """(time, pod) of each ``ready at`` line of ``namespace``'s pods after byte ``offset``."""
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read().decode(errors="replace")
    found = []
    for line in text.splitlines():
        match = _FAKE_READY.match(line)
        if match and match.group(2) == namespace:
            found.append((float(match.group(1)), match.group(3)))
    return found


def daemon_events(log: Path, offset: int, names: set[str]) -> dict[str, float]:
    """The ``ts`` of the first line of each event in ``names`` after byte ``offset``."""
    with log.open("rb") as file:
        file.seek(offset)
        lines = file.read().splitlines()
    found: dict[str, float] = {}
    for raw in lines:
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("event") in names:
            found.setdefault(str(line["event"]), float(line["ts"]))
    return found


# --- one wake --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wake:
    pod: str
    held_ms: float
    """Request sent to first ``data:`` byte: the whole wake as the client saw it."""
    ready_to_data_ms: float
    """Pod marked Ready (fake kubelet) to the first ``data:`` byte at the client."""
    ready_to_engine_ms: float
    """Ready to the daemon's ``engine.pod_ready`` (ms resolution)."""
    engine_to_scaler_ms: float
    """``engine.pod_ready`` to ``scaler.ready`` (ms resolution)."""
    scaler_to_data_ms: float
    """``scaler.ready`` to the first ``data:`` byte (the daemon's ts rounds to 1 ms)."""
    first_byte_to_ready_ms: float
    """The client's 200 (keep-alive) came this long before the pod turned Ready."""


def namespace_of(subject: Subject) -> str:
    return str(subject.config["engine"]["namespace"])


def ctl_argv(ctl: list[str], subject: Subject, *args: str) -> list[str]:
    return [*ctl, "--socket", str(subject.daemon.admin_socket), *args]


def run_ctl(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise StartError(f"{shlex.join(argv)}: exit {done.returncode}: {done.stderr[-500:]}")


def wake_once(subject: Subject, fake: FakeK3s, ctl: list[str]) -> Wake:
    daemon = subject.daemon
    namespace = namespace_of(subject)
    state = daemon.status()["models"][0]["state"]
    if state != "stopped":
        raise StartError(f"{subject.label}: model is {state}, not stopped, before a wake")
    fake_offset = fake.log_path.stat().st_size
    daemon_offset = daemon.log_path.stat().st_size
    host, port = daemon.api
    body = json.dumps(chat_body(SERVED, REPLY)).encode()
    reply = held_stream(host, port, body)
    # The log lines are written before the client's first byte; give the files a moment.
    ready: list[tuple[float, str]] = []
    events: dict[str, float] = {}
    wanted = {"engine.pod_ready", "scaler.ready"}
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        ready = fake_ready_times(fake.log_path, fake_offset, namespace)
        events = daemon_events(daemon.log_path, daemon_offset, wanted)
        if ready and set(events) == wanted:
            break
        time.sleep(0.05)
    if len(ready) != 1 or set(events) != wanted:
        raise StartError(f"{subject.label}: pod Ready lines {ready}, daemon events {events}")
    ready_at, pod = ready[0]
    run_ctl(ctl_argv(ctl, subject, "scale", "down", MODEL, "--wait"))
    return Wake(
        pod=pod,
        held_ms=(reply.first_data_at - reply.sent_at) * 1000,
        ready_to_data_ms=(reply.first_data_at - ready_at) * 1000,
        ready_to_engine_ms=(events["engine.pod_ready"] - ready_at) * 1000,
        engine_to_scaler_ms=(events["scaler.ready"] - events["engine.pod_ready"]) * 1000,
        scaler_to_data_ms=(reply.first_data_at - events["scaler.ready"]) * 1000,
        first_byte_to_ready_ms=(ready_at - reply.first_byte_at) * 1000,
    )


# --- idle ------------------------------------------------------------------------------------


def context_switches(pid: int) -> tuple[int, int, int]:
    """(voluntary, involuntary, threads) summed over every thread of ``pid``."""
    voluntary = involuntary = threads = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        threads += 1
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary, threads


def run_time_ms(pid: int) -> float | None:
    """CPU time of every thread of ``pid`` in ms, to the nanosecond (``se.sum_exec_runtime``
    of ``/proc/<pid>/task/*/sched``); None where the kernel does not expose it."""
    total, seen = 0.0, False
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "sched").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("se.sum_exec_runtime"):
                total += float(line.split(":", 1)[1])
                seen = True
    return total if seen else None


@dataclass(frozen=True)
class Idle:
    label: str
    seconds: float
    cpu_seconds: float
    voluntary: int
    involuntary: int
    threads: int
    run_time_ms: float | None
    """The same CPU time to the nanosecond, where the kernel has it (threads that ended
    during the window are not counted)."""

    @property
    def cpu_per_minute(self) -> float:
        return self.cpu_seconds / self.seconds * 60.0

    @property
    def wakeups_per_second(self) -> float:
        return self.voluntary / self.seconds


def idle_window(subjects: list[Subject], seconds: float) -> list[Idle]:
    """Every daemon over the same window."""
    pids = [subject.daemon.pid for subject in subjects]

    def read(pid: int) -> tuple[float, tuple[int, int, int], float | None]:
        return cpu_seconds(pid), context_switches(pid), run_time_ms(pid)

    before = [read(pid) for pid in pids]
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    after = [read(pid) for pid in pids]
    return [
        Idle(
            label=subject.label,
            seconds=elapsed,
            cpu_seconds=cpu1 - cpu0,
            voluntary=switches1[0] - switches0[0],
            involuntary=switches1[1] - switches0[1],
            threads=switches1[2],
            run_time_ms=None if run0 is None or run1 is None else run1 - run0,
        )
        for subject, (cpu0, switches0, run0), (cpu1, switches1, run1) in zip(
            subjects, before, after, strict=True
        )
    ]


# --- the part --------------------------------------------------------------------------------


@dataclass
class KubeFigures:
    settings: KubeSettings
    wakes: dict[float, list[Wake]] = field(default_factory=dict)
    """engine.health_interval -> its wakes."""
    idle: list[Idle] = field(default_factory=list)
    fake_command: str = ""
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """label -> the daemon's config, paths as ``$BENCH_DIR``."""
    request: str = ""
    scale_down: str = ""
    elapsed: float = 0.0


def _shown_config(config: dict[str, Any], workdir: Path) -> dict[str, Any]:
    text = json.dumps(config).replace(str(workdir), "$BENCH_DIR")
    text = text.replace(json.dumps(sys.executable)[1:-1], "python")
    shown: dict[str, Any] = json.loads(text)
    return shown


def measure(
    workdir: Path, *, quick: bool = False, progress: Callable[[str], None] = print
) -> KubeFigures:
    settings = QUICK if quick else FULL
    figures = KubeFigures(settings=settings)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    ctl, ctl_shown = ctl_executable(workdir)
    with running_fake(workdir, settings) as fake:
        figures.fake_command = fake.command
        progress(f"kube: fake k3s at {fake.url}; starting three daemons")
        specs = [
            (
                f"kubernetes, health_interval {interval:g} s",
                workdir / name,
                kube_config(workdir / name, fake, f"bench-{name}", interval),
            )
            for name, interval in (
                ("default", DEFAULT_HEALTH_INTERVAL),
                ("short", SHORT_HEALTH_INTERVAL),
            )
        ]
        specs.append(("process", workdir / "process", process_config(workdir / "process")))
        with running_daemons(specs) as subjects:
            kube_subjects = subjects[:2]
            for subject in kube_subjects:
                subject.interval = float(subject.config["engine"]["health_interval"])
                figures.wakes[subject.interval] = []
            for subject in subjects:
                figures.configs[subject.label] = _shown_config(subject.config, workdir)
            api = kube_subjects[0].daemon.listeners or {}
            body = json.dumps(chat_body(SERVED, REPLY), separators=(",", ":"))
            figures.request = (
                f"curl -sN http://{api.get('api', '127.0.0.1:PORT')}/v1/chat/completions "
                f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
            )
            figures.scale_down = f"{ctl_shown} --socket $BENCH_DIR/default/admin.sock " + (
                f"scale down {MODEL} --wait"
            )
            progress(
                f"kube: {settings.wakes} wakes from zero per health interval "
                f"({', '.join(f'{s.interval:g} s' for s in kube_subjects)}), taking turns"
            )
            for round_ in range(settings.wakes):
                order = kube_subjects if round_ % 2 == 0 else kube_subjects[::-1]
                for subject in order:
                    assert subject.interval is not None
                    figures.wakes[subject.interval].append(wake_once(subject, fake, ctl))
            process = subjects[2]
            run_ctl(ctl_argv(ctl, process, "scale", "up", MODEL, "--wait"))
            run_ctl(ctl_argv(ctl, process, "scale", "down", MODEL, "--wait"))
            progress(
                f"kube: idle CPU of the three daemons, models at zero, over "
                f"{settings.idle_seconds:g} s (after {settings.settle:g} s to settle)"
            )
            time.sleep(settings.settle)
            for subject in subjects:
                state = subject.daemon.status()["models"][0]["state"]
                if state != "stopped":
                    raise StartError(f"{subject.label}: model {state} before the idle window")
            figures.idle = idle_window(subjects, settings.idle_seconds)
    figures.elapsed = time.monotonic() - started
    return figures


# --- the report ------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _spread(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    return " / ".join(
        f"{v:.{digits}f}" for v in (median(values), percentile(values, 90), max(values))
    )


def section(figures: KubeFigures | None) -> list[str]:
    if figures is None:
        return []
    s = figures.settings
    lines = [
        "#### 7. Kubernetes engine (fake k3s): pod Ready to first byte, idle CPU",
        "",
        f"Against the fake k3s (`fake_k3s`; image pull {s.pull_delay:g} s, sim "
        f"start-up {s.start_delay:g} s, kubelet readiness probe every 0.1 s). {s.wakes} wakes "
        "from zero per daemon, two daemons taking turns, one per `engine.health_interval`; "
        "each wake is one streaming chat request held while the pod starts "
        f"(`scaler.keepalive_after: {KEEPALIVE_AFTER:g}`, so it gets its 200 and keep-alive "
        "comments first, as through a real cold start), then `scale down --wait`. Ready: the "
        "moment the fake's kubelet marks the pod Ready (its log line, microsecond wall-clock "
        "time); first byte: the client's read that holds the first SSE `data:` line. "
        "Split by the daemon's log (`engine.pod_ready`, `scaler.ready`; millisecond time "
        f"stamps). Part: {figures.elapsed:.0f} s.",
        "",
    ]
    rows = []
    for interval, wakes in figures.wakes.items():
        ready = [w.ready_to_data_ms for w in wakes]
        verdict = "met" if ready and median(ready) < TARGET_MS else "**missed**"
        rows.append(
            [
                f"{interval:g} s" + (" (default)" if interval == DEFAULT_HEALTH_INTERVAL else ""),
                str(len(wakes)),
                f"**{_spread(ready)}**",
                _spread([w.ready_to_engine_ms for w in wakes]),
                _spread([w.engine_to_scaler_ms for w in wakes]),
                _spread([w.scaler_to_data_ms for w in wakes]),
                _spread([w.held_ms / 1000 for w in wakes], 2),
                f"< {TARGET_MS:g} ms median: {verdict}",
            ]
        )
    header = [
        "engine.health_interval",
        "wakes",
        "Ready -> first `data:` byte, ms: median / p90 / max",
        "Ready -> engine.pod_ready",
        "-> scaler.ready",
        "-> first `data:` byte",
        "request -> first `data:` byte, s",
        "target",
    ]
    lines += [*_table(header, rows), ""]
    if figures.idle:
        lines += [
            f"Idle, model at zero: the three daemons over the same {figures.idle[0].seconds:.1f} s "
            f"window, {s.settle:g} s after the last scale-down (each model woke and stopped "
            "before). CPU: user + system from `/proc/<pid>/stat` (10 ms ticks: "
            f"{0.01 / figures.idle[0].seconds * 60:.3f} s/min resolution) and, to the "
            "nanosecond, `se.sum_exec_runtime` summed over `/proc/<pid>/task/*/sched` "
            "(sched); wake-ups: `voluntary_ctxt_switches` summed over "
            "`/proc/<pid>/task/*/status` (each time a thread went to sleep).",
            "",
        ]
        idle_rows = [
            [
                idle.label,
                f"{idle.cpu_seconds:.2f}",
                f"**{idle.cpu_per_minute:.3f}**",
                "-" if idle.run_time_ms is None else f"{idle.run_time_ms:.1f}",
                "-" if idle.run_time_ms is None else f"{idle.run_time_ms / idle.seconds * 60:.1f}",
                f"{idle.wakeups_per_second:.1f}",
                str(idle.involuntary),
                str(idle.threads),
            ]
            for idle in figures.idle
        ]
        idle_header = [
            "daemon (engine)",
            "CPU s in window",
            "CPU s per minute",
            "CPU ms in window (sched)",
            "CPU ms per minute (sched)",
            "wake-ups/s",
            "involuntary switches",
            "threads",
        ]
        lines += [*_table(idle_header, idle_rows), ""]
    lines += [
        "Commands (`$BENCH_DIR` is the part's temporary directory):",
        "",
        f"- Fake k3s: `{figures.fake_command}` (the benchmark starts it through a launcher that "
        "adds a time stamp to each log line: `bench.kube.FAKE_LAUNCHER`)",
        f"- Held request (one per wake): `{figures.request}`",
        f"- Between wakes: `{figures.scale_down}`",
    ]
    first: dict[str, Any] | None = None
    for label, config in figures.configs.items():
        start = f"- Daemon, {label}: `python -m autosred.daemon --config autosred.yaml` with"
        if first is None:
            first = config
            lines += [
                start + ":",
                "",
                "  ```json",
                *("  " + line for line in json.dumps(config, indent=2).splitlines()),
                "  ```",
            ]
            continue
        changed = {key: value for key, value in config.items() if first.get(key) != value}
        lines.append(f"{start} the same but: `{json.dumps(changed)}`")
    return [*lines, ""]


def main() -> int:
    """``python -m bench.kube [--quick]``: this part alone, printed."""
    import tempfile

    quick = "--quick" in sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="autosred-bench-kube-") as tmp:
        figures = measure(
            Path(tmp), quick=quick, progress=lambda m: print(m, file=sys.stderr, flush=True)
        )
    print("\n".join(section(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
