"""The daemon's Prometheus metrics: one registry per daemon (never the global REGISTRY).

Each metric is a typed attribute so call sites are checked by mypy and renamed by tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class GpuSample(Protocol):
    """What metrics read of one GPU (autosred.gpu.GpuReading fits; gpu is a sibling layer)."""

    @property
    def index(self) -> int: ...
    @property
    def memory_total_bytes(self) -> int: ...
    @property
    def memory_free_bytes(self) -> int: ...
    @property
    def utilization_percent(self) -> int | None: ...
    @property
    def temperature_celsius(self) -> int | None: ...
    @property
    def power_watts(self) -> float | None: ...


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_WAKE_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 600)
_TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1,
    2.5,
    5,
    7.5,
    10,
)
"""OpenTelemetry GenAI semantic conventions: gen_ai.server.time_to_first_token's buckets."""
_TOKEN_BUCKETS = tuple(4**i for i in range(14))
"""OpenTelemetry GenAI semantic conventions: gen_ai.client.token.usage's buckets (1 to 4^13)."""

HostedSurface = Literal["anthropic", "responses"]
"""The surface a hosted tool ran for: ``/v1/messages`` or ``/v1/responses`` (the values of
the ``api`` label of ``autosred_requests``)."""
HostedTool = Literal["web_search", "web_fetch"]
HostedOutcome = Literal[
    "ok",
    "max_uses_exceeded",
    "too_many_requests",
    "invalid_input",
    "query_too_long",
    "url_too_long",
    "url_not_allowed",
    "url_not_accessible",
    "unsupported_content_type",
    "unavailable",
    "no_cached_results",
    "cancelled",
]
"""How one hosted tool call ended: ``ok``, the error code the client was answered (the
vendor's codes for web_search and web_fetch results; ``no_cached_results``: an offline
search on /v1/responses that no earlier search answered), or ``cancelled`` (the request ended
while the tool ran: the client hung up, or the daemon stopped)."""

ENGINE_STATES = ("stopped", "starting", "ready", "stopping", "failed")
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Every series the daemon exports, bound to its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "autosred_requests",
            "Client requests answered, by API surface, client-facing model and HTTP status.",
            ["api", "model", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "autosred_request_duration_seconds",
            "Time from request received to last byte sent.",
            ["api", "model"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.time_to_first_byte = Histogram(
            "autosred_time_to_first_byte_seconds",
            "Time from request received to the first byte of the upstream's answer sent.",
            ["api", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        # The OpenTelemetry GenAI semantic conventions' metrics, in Prometheus form (dots to
        # underscores, the unit "s" as _seconds; "{token}" is an annotation, no suffix), with
        # their bucket boundaries; labelled by surface, model (the recipe) and client.
        self.time_to_first_token = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from a streamed request's arrival to the first byte of the model's answer "
            "sent to the client (gen_ai.server.time_to_first_token), by surface, model, client.",
            ["surface", "model", "client"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens per request (gen_ai.client.token.usage), by surface, model, client and "
            "gen_ai_token_type (input: the prompt, its cached part included; output).",
            ["surface", "model", "client", "gen_ai_token_type"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "autosred_in_flight_requests",
            "Requests holding a lease on a ready model (streams count until their last byte).",
            ["model"],
            registry=r,
        )
        self.held = Gauge(
            "autosred_held_requests",
            "Requests waiting for a model to wake.",
            ["model"],
            registry=r,
        )
        self.engine_state = Gauge(
            "autosred_engine_state",
            "1 for the state each model is in, 0 for the others.",
            ["model", "state"],
            registry=r,
        )
        self.wake_duration = Histogram(
            "autosred_wake_duration_seconds",
            "Time from wake start to the model server answering its health check.",
            ["model", "outcome"],
            buckets=_WAKE_BUCKETS,
            registry=r,
        )
        self.scale_events = Counter(
            "autosred_scale_events",
            "Scale-ups, scale-downs and failed wakes, by model and reason.",
            ["model", "direction", "reason"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "autosred_upstream_errors",
            "Failures talking to a model server, by kind (connect, status, disconnect, ...).",
            ["model", "kind"],
            registry=r,
        )
        self.drift = Gauge(
            "autosred_drift_fields",
            "Fields in which the running model server differs from its recipe (0: none), as "
            "last checked (kubernetes engine: at adoption, after each wake, at each health check).",
            ["model"],
            registry=r,
        )
        self.tokens = Counter(
            "autosred_tokens",
            "Tokens by client (token name), model and direction (input/output).",
            ["client", "model", "direction"],
            registry=r,
        )

        self.mcp_calls = Counter(
            "autosred_mcp_calls",
            "MCP tool calls, by server (tool group), tool and outcome: ok, tool_error (the "
            "tool answered isError), crashed (the tool raised; a generic error was answered), "
            "unknown_tool (tool label '-': names a client makes up are not labels).",
            ["server", "tool", "outcome"],
            registry=r,
        )
        self.mcp_call_duration = Histogram(
            "autosred_mcp_call_duration_seconds",
            "Time from a tool call's arrival at its server to its result.",
            ["server", "tool"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.mcp_refused = Counter(
            "autosred_mcp_refused",
            "MCP HTTP requests refused before any server saw them, by reason (host, origin, "
            "token, unknown_server, method, too_large, bad_body).",
            ["reason"],
            registry=r,
        )

        self.hosted_tool_calls = Counter(
            "autosred_hosted_tool_calls",
            "Hosted tool calls the daemon ran for a model, by surface (anthropic, responses), "
            "client (token name), tool (web_search, web_fetch) and outcome (ok, or the error "
            "code answered: max_uses_exceeded, too_many_requests, invalid_input, unavailable, "
            "url_not_allowed, ...; cancelled when the request ended while it ran).",
            ["surface", "client", "tool", "outcome"],
            registry=r,
        )
        self.hosted_tool_duration = Histogram(
            "autosred_hosted_tool_call_duration_seconds",
            "Time a hosted tool call took, from the model's call to its result.",
            ["surface", "tool"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

        self.watchers = Gauge(
            "autosred_watchers",
            "Watch streams attached to the admin API (autosrectl watch).",
            registry=r,
        )
        self.watch_backlog = Gauge(
            "autosred_watch_backlog_events",
            "Request events held for watchers that have not read them yet (bounded per "
            "watcher: a watcher that falls behind loses the oldest).",
            registry=r,
        )

        self.dropbox_received_bytes = Counter(
            "autosred_dropbox_received_bytes",
            "Upload bytes the dropbox wrote to its store (tus PATCH and POST bodies).",
            registry=r,
        )
        self.dropbox_sent_bytes = Counter(
            "autosred_dropbox_sent_bytes",
            "File bytes the dropbox sent (downloads by id and by share link).",
            registry=r,
        )
        self.dropbox_paced_seconds = Counter(
            "autosred_dropbox_paced_seconds",
            "Seconds dropbox transfers waited, summed over transfers, to stay within "
            "dropbox.busy_rate while model requests were in flight.",
            registry=r,
        )
        self.dropbox_uploads_started = Counter(
            "autosred_dropbox_uploads_started", "tus uploads created.", registry=r
        )
        self.dropbox_uploads_finished = Counter(
            "autosred_dropbox_uploads_finished",
            "tus uploads completed (their last byte in: a finished file).",
            registry=r,
        )
        self.dropbox_uploads_failed = Counter(
            "autosred_dropbox_uploads_failed",
            "Upload bodies that did not all land (checksum_mismatch, past_length, no_space, "
            "interrupted: the client went away or its body stalled past "
            "dropbox.body_idle_timeout; what was written before is kept for a resume), and "
            "uploads removed unfinished (expired, terminated).",
            ["reason"],
            registry=r,
        )
        self.dropbox_refused = Counter(
            "autosred_dropbox_refused",
            "Dropbox requests answered with an error, by its code (unauthorized, "
            "rate_limited, read_only, not_found, gone, tus_version, content_type, "
            "offset_mismatch, busy, bad_request, too_large, quota, no_space, "
            "checksum_mismatch, checksum_algorithm, body_timeout, interrupted, range, method, "
            "storage, internal).",
            ["reason"],
            registry=r,
        )
        self.gpu_memory_total = Gauge(
            "autosred_gpu_memory_total_bytes", "GPU memory, by GPU index.", ["gpu"], registry=r
        )
        self.gpu_memory_used = Gauge(
            "autosred_gpu_memory_used_bytes",
            "GPU memory in use by any process (not only autosred's), by GPU index.",
            ["gpu"],
            registry=r,
        )
        self.gpu_memory_free = Gauge(
            "autosred_gpu_memory_free_bytes", "Free GPU memory, by GPU index.", ["gpu"], registry=r
        )
        self.gpu_utilization = Gauge(
            "autosred_gpu_utilization_ratio",
            "GPU busy fraction (NVML), by GPU.",
            ["gpu"],
            registry=r,
        )
        self.gpu_temperature = Gauge(
            "autosred_gpu_temperature_celsius", "GPU temperature, by GPU.", ["gpu"], registry=r
        )
        self.gpu_power = Gauge(
            "autosred_gpu_power_watts", "GPU power draw, by GPU.", ["gpu"], registry=r
        )

    def set_gpu_readings(self, readings: Sequence[GpuSample]) -> None:
        for reading in readings:
            gpu = str(reading.index)
            self.gpu_memory_total.labels(gpu=gpu).set(reading.memory_total_bytes)
            self.gpu_memory_free.labels(gpu=gpu).set(reading.memory_free_bytes)
            self.gpu_memory_used.labels(gpu=gpu).set(
                reading.memory_total_bytes - reading.memory_free_bytes
            )
            if reading.utilization_percent is not None:
                self.gpu_utilization.labels(gpu=gpu).set(reading.utilization_percent / 100)
            if reading.temperature_celsius is not None:
                self.gpu_temperature.labels(gpu=gpu).set(reading.temperature_celsius)
            if reading.power_watts is not None:
                self.gpu_power.labels(gpu=gpu).set(reading.power_watts)

    def record_hosted_tool_call(
        self,
        *,
        surface: HostedSurface,
        client: str,
        tool: HostedTool,
        outcome: HostedOutcome,
        seconds: float,
    ) -> None:
        """One hosted tool call ended (the executors call this once per call, refusals such
        as ``max_uses_exceeded`` included, with the time they took)."""
        self.hosted_tool_calls.labels(surface, client, tool, outcome).inc()
        self.hosted_tool_duration.labels(surface, tool).observe(seconds)

    def set_engine_state(self, model: str, state: str) -> None:
        for candidate in ENGINE_STATES:
            self.engine_state.labels(model=model, state=candidate).set(
                1 if candidate == state else 0
            )

    def forget_model(self, model: str) -> None:
        """Drop a removed recipe's per-model gauges so they do not linger after a reload."""
        for candidate in ENGINE_STATES:
            try:
                self.engine_state.remove(model, candidate)
            except KeyError:
                pass
        for gauge in (self.in_flight, self.held, self.drift):
            try:
                gauge.remove(model)
            except KeyError:
                pass

    def render(self) -> bytes:
        return generate_latest(self.registry)
