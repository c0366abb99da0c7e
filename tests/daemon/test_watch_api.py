"""GET /v1/watch on the real daemon: frames with the models and their servers' figures, and
each request as it finishes, while a model server (autosred-sim) serves real requests."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client import Metric
from prometheus_client.parser import text_string_to_metric_families

from autosred.admin.schema import ApiError, RequestRecord, WatchFrame, WatchLine, parse_watch_line
from autosred.proxy.requestlog import FEED_SIZE
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEADLINE = 30.0
FAKE_NVML = Path(__file__).resolve().parents[1] / "support" / "fake_nvml"
GPU = {"name": "NVIDIA H200", "total_gib": 141, "free_gib": 100, "util": 37, "temp": 51}
GPU |= {"power_w": 312.5}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("watch")
    # No GPUs asked for: both models may run at once.
    recipes = [sim_recipe(gpu={"count": 0}), sim_recipe("other", gpu={"count": 0})]
    config = base_config(tmp_path, recipes)
    nvml = tmp_path / "gpus.json"
    write_gpus(nvml, json.dumps({"devices": [GPU]}))
    env = {"PYTHONPATH": str(FAKE_NVML), "AUTOSRED_FAKE_NVML": str(nvml)}
    async with running_daemon(tmp_path, config, env=env) as running:
        code, body = await running.admin(
            "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
        )
        assert code == 200, body
        yield running


class Watcher:
    """One watch stream, read line by line."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def line(self) -> WatchLine | ApiError:
        async with asyncio.timeout(DEADLINE):
            raw = await self.response.content.readline()
        assert raw.endswith(b"\n"), f"the watch stream ended: {raw!r}"
        return parse_watch_line(json.loads(raw))

    async def frame(self) -> WatchFrame:
        while True:
            line = await self.line()
            assert isinstance(line, WatchLine), line
            if line.frame is not None:
                return line.frame

    async def request(self) -> RequestRecord:
        while True:
            line = await self.line()
            assert isinstance(line, WatchLine), line
            if line.request is not None:
                return line.request


@pytest_asyncio.fixture(loop_scope="module")
async def watcher(daemon: Daemon) -> AsyncIterator[Watcher]:
    connector = aiohttp.UnixConnector(path=str(daemon.admin_socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get("http://autosred/v1/watch", params={"interval": "0.2"}) as response:
            assert response.status == 200, await response.text()
            yield Watcher(response)


async def message(daemon: Daemon, text: str, *, stream: bool = False) -> dict[str, Any]:
    """A Messages request (the surface that reads the answer's usage on every path); streamed:
    the events, read to the end."""
    body = {
        "model": "sim",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    headers = {"anthropic-version": "2023-06-01"}
    url = f"{daemon.api_url}/v1/messages"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            if stream:
                return {"events": (await response.read()).decode()}
            result: dict[str, Any] = await response.json()
            return result


async def test_frames_show_each_model_and_its_state(watcher: Watcher) -> None:
    frame = await watcher.frame()
    states = {model.name: model.state for model in frame.models}
    assert states == {"sim": "ready", "other": "stopped"}
    sim = next(model for model in frame.models if model.name == "sim")
    assert sim.idle_left_seconds is not None and sim.idle_left_seconds > 500
    assert sim.in_flight == 0
    assert sim.uptime_seconds is not None and sim.uptime_seconds >= 0
    assert sim.drift == [], "the process engine renders no spec to differ from"
    other = next(model for model in frame.models if model.name == "other")
    assert other.uptime_seconds is None and other.idle_left_seconds is None


async def test_a_request_is_sent_as_it_finishes_and_kept_in_frames(
    daemon: Daemon, watcher: Watcher
) -> None:
    await watcher.frame()  # subscribed: the stream is under way
    answer = await message(daemon, '#sim {"text": "hello there"}')
    record = await watcher.request()
    assert (record.surface, record.model, record.status, record.client) == (
        "anthropic",
        "sim",
        "200",
        "-",
    )
    usage = answer["usage"]
    assert (record.tokens_in, record.tokens_out) == (
        usage["input_tokens"],
        usage["output_tokens"],
    )
    assert record.ttfb_seconds is None, "an answer sent whole has no first byte of its own"
    frame = await watcher.frame()
    assert frame.requests[0] == record, "newest first"


async def test_a_streamed_request_has_its_time_to_first_byte(
    daemon: Daemon, watcher: Watcher
) -> None:
    await watcher.frame()
    answer = await message(daemon, '#sim {"text": "one two three"}', stream=True)
    assert "message_stop" in answer["events"]
    record = await watcher.request()
    assert record.status == "200" and record.tokens_out is not None and record.tokens_out > 0
    assert record.ttfb_seconds is not None
    assert 0 <= record.ttfb_seconds <= record.duration_seconds


async def test_the_model_servers_figures_appear_in_frames(daemon: Daemon, watcher: Watcher) -> None:
    # A resent conversation (prefix cache hits) streamed (time to first token), until two
    # readings of the server's /metrics a second apart show the rates.
    history = " ".join(f"turn{i}" for i in range(120))
    async with asyncio.timeout(DEADLINE):
        while True:
            await message(daemon, f'{history}\n#sim {{"text": "a b c d"}}', stream=True)
            frame = await watcher.frame()
            server = next(m for m in frame.models if m.name == "sim").server
            assert server is not None, "a running model has its server's figures"
            if server.ttft_p50_seconds is not None and server.prefix_cache_hit_rate:
                break
    assert server.requests_running == 0 and server.requests_waiting == 0
    assert server.kv_cache_usage == 0
    assert server.prompt_tokens_per_second and server.prompt_tokens_per_second > 0
    assert server.generation_tokens_per_second and server.generation_tokens_per_second > 0
    assert server.ttft_p95_seconds is not None
    assert server.ttft_p50_seconds <= server.ttft_p95_seconds
    assert 0 < server.prefix_cache_hit_rate < 1
    other = next(m for m in frame.models if m.name == "other")
    assert other.server is None, "a model at zero has no server to read"


def _families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _models_of(families: dict[str, Metric], name: str) -> set[str]:
    family = families.get(name)
    return {sample.labels["model"] for sample in family.samples} if family else set()


async def test_metrics_reexport_the_servers_series_with_a_model_label(daemon: Daemon) -> None:
    families = _families(await daemon.metrics())
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
    ):
        assert families[name].type == "gauge"
        assert _models_of(families, name) == {"sim"}, "only the running model's server"
        sample = families[name].samples[0]
        assert sample.labels["model_name"] == "sim-served", "the server's own labels are kept"
    assert families["vllm:prompt_tokens"].type == "counter"
    assert families["vllm:time_to_first_token_seconds"].type == "histogram"


async def test_a_model_at_zero_exports_nothing(daemon: Daemon) -> None:
    code, body = await daemon.admin(
        "POST", "/v1/models/other/scale", {"direction": "up", "wait": True}
    )
    assert code == 200, body
    running = _families(await daemon.metrics())
    assert _models_of(running, "vllm:num_requests_running") == {"sim", "other"}
    code, body = await daemon.admin(
        "POST", "/v1/models/other/scale", {"direction": "down", "wait": True}
    )
    assert code == 200, body
    stopped = _families(await daemon.metrics())
    for family in stopped.values():
        if family.name.startswith("vllm:"):
            assert all(s.labels["model"] == "sim" for s in family.samples), family


OTEL_TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0]
OTEL_TTFT_BUCKETS += [2.5, 5.0, 7.5, 10.0, math.inf]
OTEL_TOKEN_BUCKETS = [float(4**i) for i in range(14)] + [math.inf]


def _bounds(family: Metric, **labels: str) -> list[float]:
    return [
        float(s.labels["le"])
        for s in family.samples
        if s.name.endswith("_bucket") and all(s.labels.get(k) == v for k, v in labels.items())
    ]


async def test_request_histograms_follow_the_otel_genai_conventions(daemon: Daemon) -> None:
    answer = await message(daemon, '#sim {"text": "one two three four"}', stream=True)
    assert "message_stop" in answer["events"]
    families = _families(await daemon.metrics())
    ttft = families["gen_ai_server_time_to_first_token_seconds"]
    assert ttft.type == "histogram"
    labels = {"surface": "anthropic", "model": "sim", "client": "-"}
    assert _bounds(ttft, **labels) == OTEL_TTFT_BUCKETS
    usage = families["gen_ai_client_token_usage"]
    assert usage.type == "histogram"
    for kind in ("input", "output"):
        assert _bounds(usage, **labels, gen_ai_token_type=kind) == OTEL_TOKEN_BUCKETS
        count = next(
            s.value
            for s in usage.samples
            if s.name == "gen_ai_client_token_usage_count"
            and s.labels == {**labels, "gen_ai_token_type": kind}
        )
        assert count >= 1


async def _gauge(daemon: Daemon, name: str) -> float:
    family = _families(await daemon.metrics())[name]
    return float(family.samples[0].value)


async def test_a_watcher_that_does_not_read_never_slows_requests(daemon: Daemon) -> None:
    """A watcher stops reading: the socket's buffers fill, its writes wait, and meanwhile
    streams complete, its request backlog stops at the feed's bound (the oldest dropped), and
    no frames pile up for it: when it reads again, the frames jump over the time it was stuck
    (each is built fresh when a write is possible), where a queue would have kept them all."""
    async with asyncio.timeout(DEADLINE):  # the other tests' watchers have left
        while await _gauge(daemon, "autosred_watchers"):
            await asyncio.sleep(0.05)
    connector = aiohttp.UnixConnector(path=str(daemon.admin_socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get("http://autosred/v1/watch", params={"interval": "0.1"}) as response:
            assert response.status == 200
            watcher = Watcher(response)
            await watcher.frame()
            assert await _gauge(daemon, "autosred_watchers") == 1
            # Not reading from here on. Streams go on until the watcher's backlog is full.
            sent = 0
            async with asyncio.timeout(120):
                while await _gauge(daemon, "autosred_watch_backlog_events") < FEED_SIZE:
                    answers = await asyncio.gather(
                        *(message(daemon, '#sim {"text": "x y"}', stream=True) for _ in range(16))
                    )
                    assert all("message_stop" in a["events"] for a in answers)
                    sent += len(answers)
            # More requests: the backlog stays at its bound. They go on for 2 s at least, so
            # the time the writer is stuck is long next to the 0.1 s interval however fast
            # this machine streams (on a quiet one, four rounds took well under a second).
            full = time.monotonic()
            rounds = 0
            while rounds < 4 or time.monotonic() - full < 2.0:
                await asyncio.gather(
                    *(message(daemon, '#sim {"text": "x y"}', stream=True) for _ in range(16))
                )
                sent += 16
                rounds += 1
                assert await _gauge(daemon, "autosred_watch_backlog_events") == FEED_SIZE
            # Reading again: everything it gets, up to a frame built after this point.
            resumed = time.time()
            frames: list[float] = []
            events = 0
            async with asyncio.timeout(60):
                while not frames or frames[-1] < resumed:
                    line = await watcher.line()
                    assert isinstance(line, WatchLine), line
                    if line.frame is not None:
                        frames.append(line.frame.at)
                    else:
                        events += 1
    gaps = [later - earlier for earlier, later in itertools.pairwise(frames)]
    assert max(gaps) > 1.0, f"frames every 0.1 s were queued, not skipped: {gaps}"
    assert events < sent, "the events it fell too far behind on were dropped"
    async with asyncio.timeout(DEADLINE):
        while await _gauge(daemon, "autosred_watchers"):
            await asyncio.sleep(0.05)


async def test_frames_show_the_gpus_and_the_connections(daemon: Daemon, watcher: Watcher) -> None:
    async with aiohttp.ClientSession() as held:
        async with held.get(f"{daemon.api_url}/health") as response:
            assert response.status == 200  # its connection kept alive while frames are taken
        async with asyncio.timeout(DEADLINE):
            # Until connections other tests closed are gone: then this one alone is left.
            while True:
                frame = await watcher.frame()
                api = [
                    (c.surface, c.peer, c.count) for c in frame.connections if c.listener == "api"
                ]
                if api == [("api", "127.0.0.1", 1)]:
                    break
        async with held.get(f"{daemon.codex_url}/health") as response:
            assert response.status == 200
        async with asyncio.timeout(DEADLINE):
            while not any(c.listener == "codex" for c in frame.connections):
                frame = await watcher.frame()
    assert ("codex", "127.0.0.1", 1) in [(c.listener, c.peer, c.count) for c in frame.connections]
    (gpu,) = frame.gpus
    gib = 1024**3
    assert (gpu.index, gpu.name) == (0, "NVIDIA H200")
    assert (gpu.memory_total_bytes, gpu.memory_used_bytes) == (141 * gib, 41 * gib)
    assert (gpu.utilization_percent, gpu.temperature_celsius, gpu.power_watts) == (37, 51, 312.5)


async def test_frames_carry_the_last_lines_of_the_running_servers_output(
    daemon: Daemon, watcher: Watcher
) -> None:
    frame = await watcher.frame()
    running = {m.name for m in frame.models if m.state == "ready"}
    assert "sim" in running
    lines = [entry.line for entry in frame.log if entry.model == "sim"]
    assert lines, "the sim's output (what the process engine kept of it)"
    assert {entry.model for entry in frame.log} <= running, "no lines of a model at zero"
    printed = [e["line"] for e in daemon.events_named("engine.child_output") if e["model"] == "sim"]
    # The lines as printed, in order (the frame's may be up to a couple of seconds old).
    starts = [i for i in range(len(printed)) if printed[i : i + len(lines)] == lines]
    assert starts, f"{lines} is not a run of {printed}"


def _server_pid(daemon: Daemon, model: str) -> int:
    """The model server's own pid: the child of the reaper the process engine started."""
    reaper = int(
        [e for e in daemon.events_named("engine.child_started") if e["model"] == model][-1]["pid"]
    )
    children = Path(f"/proc/{reaper}/task/{reaper}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


async def test_a_models_residency_is_the_gpu_memory_its_server_holds(
    daemon: Daemon, watcher: Watcher
) -> None:
    nvml = Path(daemon.config_path).parent / "gpus.json"
    processes = [
        {"pid": _server_pid(daemon, "sim"), "used_gib": 30},
        {"pid": os.getpid(), "used_gib": 2},  # someone else's: not the model's
    ]
    write_gpus(nvml, json.dumps({"devices": [GPU | {"processes": processes}]}))
    try:
        async with asyncio.timeout(DEADLINE):
            while True:
                frame = await watcher.frame()
                sim = next(m for m in frame.models if m.name == "sim")
                if sim.residency_bytes:
                    break
        assert sim.residency_bytes == 30 * 1024**3
        other = next(m for m in frame.models if m.name == "other")
        assert other.residency_bytes == (None if other.state == "stopped" else 0)
    finally:
        write_gpus(nvml, json.dumps({"devices": [GPU]}))


async def test_a_gpu_reading_that_fails_leaves_frames_without_gpus(
    daemon: Daemon, watcher: Watcher
) -> None:
    nvml = Path(daemon.config_path).parent / "gpus.json"
    write_gpus(nvml, json.dumps({"devices": [{"name": "broken"}]}))  # no memory: NVML fails
    try:
        async with asyncio.timeout(DEADLINE):
            while (await watcher.frame()).gpus:
                pass
        for _ in range(3):
            frame = await watcher.frame()
            assert frame.gpus == [] and frame.models, "the stream goes on"
        assert len(daemon.events_named("gpu.read_failed")) == 1, "logged once"
    finally:
        write_gpus(nvml, json.dumps({"devices": [GPU]}))
    async with asyncio.timeout(DEADLINE):
        while not (await watcher.frame()).gpus:
            pass


def write_gpus(path: Path, text: str) -> None:
    """Replace the fake NVML's devices file at once: a reader never sees it half written
    (an empty file read mid-write is a failure of its own, with its own log line)."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(text)
    os.replace(scratch, path)
