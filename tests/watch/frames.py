"""Watch frames for the view's tests: a busy box, and hypothesis's arbitrary ones."""

from __future__ import annotations

import io

from hypothesis import strategies as st
from rich.console import Console

from autosred.admin.schema import (
    DriftField,
    LogLine,
    RequestRecord,
    ServerFigures,
    WatchConnection,
    WatchFrame,
    WatchGpu,
    WatchModel,
)
from autosred.watch.screen import render
from autosred.watch.state import ViewState

AT = 1_796_000_000.0


def busy_frame(*, requests: int = 30, log_lines: int = 20) -> WatchFrame:
    """Three models (one serving, one waking, one stopped with drift), a GPU, connections,
    a screenful of requests and log lines."""
    coder = WatchModel(
        name="qwen3-coder-30b",
        state="ready",
        uptime_seconds=3725,
        idle_left_seconds=512,
        in_flight=2,
        residency_bytes=70 * 2**30,
        server=ServerFigures(
            requests_running=2,
            requests_waiting=3,
            kv_cache_usage=0.43,
            prompt_tokens_per_second=12345,
            generation_tokens_per_second=88.2,
            ttft_p50_seconds=0.23,
            ttft_p95_seconds=1.9,
            prefix_cache_hit_rate=0.71,
        ),
    )
    embed = WatchModel(
        name="embed", state="starting", phase="loading weights", eta_seconds=42, held=3
    )
    small = WatchModel(
        name="small",
        state="stopped",
        drift=[DriftField(field="container.args", recipe="a", live="b")],
    )
    return WatchFrame(
        at=AT,
        models=[coder, embed, small],
        requests=[
            RequestRecord(
                at=AT - i,
                surface="anthropic" if i % 2 else "responses",
                client="laptop",
                model="qwen3-coder-30b" if i % 3 else "embed",
                status="200" if i % 5 else "502",
                ttfb_seconds=0.2,
                tokens_in=12000 + i,
                tokens_out=300,
                duration_seconds=4.2,
            )
            for i in range(requests)
        ],
        connections=[
            WatchConnection(listener="api", surface="api", peer="127.0.0.1", count=3),
            WatchConnection(listener="codex", surface="codex", peer="10.0.0.7", count=1),
        ],
        gpus=[
            WatchGpu(
                index=0,
                name="NVIDIA H200",
                memory_used_bytes=70 * 2**30,
                memory_total_bytes=141 * 2**30,
                utilization_percent=45,
                temperature_celsius=61,
                power_watts=210,
            )
        ],
        log=[
            LogLine(model="qwen3-coder-30b" if i % 2 else "embed", line=f"log line {i}")
            for i in range(log_lines)
        ],
    )


def screen(
    frame: WatchFrame,
    state: ViewState | None = None,
    *,
    width: int = 80,
    height: int | None = 24,
    note: str | None = None,
) -> list[str]:
    """The lines the view shows, as plain text."""
    out = io.StringIO()
    console = Console(
        file=out, width=width, height=height or 1000, color_system=None, force_terminal=False
    )
    console.print(render(frame, state or ViewState(), width=width, height=height, note=note))
    return out.getvalue().splitlines()


# --- arbitrary frames, as the wire types allow them --------------------------------------------

texts = st.text(max_size=40)
figures = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1e7)
counts = st.none() | st.integers(min_value=-(2**40), max_value=2**62)


servers = st.builds(
    ServerFigures,
    requests_running=figures,
    requests_waiting=figures,
    kv_cache_usage=figures,
    prompt_tokens_per_second=figures,
    generation_tokens_per_second=figures,
    ttft_p50_seconds=figures,
    ttft_p95_seconds=figures,
    prefix_cache_hit_rate=figures,
)
models = st.builds(
    WatchModel,
    name=texts,
    state=st.sampled_from(["stopped", "starting", "ready", "stopping", "failed"]),
    phase=st.none() | texts,
    eta_seconds=figures,
    uptime_seconds=figures,
    idle_left_seconds=figures,
    in_flight=st.integers(0, 10**6),
    held=st.integers(0, 10**6),
    drift=st.lists(st.builds(DriftField, field=texts, recipe=texts, live=texts), max_size=3),
    residency_bytes=counts,
    last_error=st.none() | texts,
    server=st.none() | servers,
)
requests = st.builds(
    RequestRecord,
    at=st.floats(allow_nan=True, allow_infinity=True),
    surface=texts,
    client=texts,
    model=texts,
    status=texts,
    ttfb_seconds=figures,
    tokens_in=counts,
    tokens_out=counts,
    duration_seconds=st.floats(allow_nan=True, allow_infinity=True),
)
frames = st.builds(
    WatchFrame,
    at=st.floats(allow_nan=True, allow_infinity=True),
    models=st.lists(models, max_size=12),
    requests=st.lists(requests, max_size=40),
    connections=st.lists(
        st.builds(
            WatchConnection,
            listener=texts,
            surface=texts,
            peer=texts,
            count=st.integers(0, 10**6),
        ),
        max_size=6,
    ),
    gpus=st.lists(
        st.builds(
            WatchGpu,
            index=st.integers(0, 16),
            name=texts,
            memory_used_bytes=st.integers(0, 2**50),
            memory_total_bytes=st.integers(0, 2**50),
            utilization_percent=figures,
            temperature_celsius=figures,
            power_watts=figures,
        ),
        max_size=3,
    ),
    log=st.lists(st.builds(LogLine, model=texts, line=st.text(max_size=300)), max_size=50),
)
