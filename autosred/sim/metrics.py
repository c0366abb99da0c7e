"""`/metrics`: vLLM-named Prometheus series on the simulator's own registry.

Series (labels `model_name`, `engine="0"` like vLLM's V1 engine):
- `vllm:num_requests_running`, `vllm:num_requests_waiting` (gauges; requests wait only when
  `--max-num-seqs` are running);
- `vllm:kv_cache_usage_perc` and its deprecated twin `vllm:gpu_cache_usage_perc` (gauges, a
  fraction 0..1 like vLLM's): tokens held by running requests / simulated KV capacity;
- `vllm:prompt_tokens_total`, `vllm:generation_tokens_total` (counters; toy tokens);
- `vllm:request_success_total{finished_reason=...}` (counter, requests that ran to the end);
- `vllm:time_to_first_token_seconds` (histogram, vLLM V1's buckets): from a request's arrival to
  its first output token;
- `vllm:prefix_cache_queries_total`, `vllm:prefix_cache_hits_total` (counters, in tokens, like
  vLLM's): prompt tokens looked up in the prefix cache, and those found there.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import Counter as CounterType

TTFT_BUCKETS = (
    *(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75),
    *(1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0),
)
"""vLLM V1's ``vllm:time_to_first_token_seconds`` buckets (vllm/v1/metrics/loggers.py)."""


class SimMetrics:
    """The Prometheus side of one simulator; gauges read live state at scrape time."""

    def __init__(
        self,
        *,
        model: str,
        running: Callable[[], float],
        kv_usage: Callable[[], float],
        waiting: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"model_name": model, "engine": "0"}
        names = list(labels)

        def gauge(name: str, doc: str, read: Callable[[], float]) -> None:
            Gauge(name, doc, names, registry=self.registry).labels(**labels).set_function(read)

        gauge("vllm:num_requests_running", "Requests in model execution batches.", running)
        gauge("vllm:num_requests_waiting", "Requests waiting to be processed.", waiting)
        gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kv_usage)
        gauge(
            "vllm:gpu_cache_usage_perc",
            "GPU KV-cache usage. 1 means 100 percent usage (deprecated name).",
            kv_usage,
        )
        self._prompt = Counter(
            "vllm:prompt_tokens",
            "Number of prefill tokens processed.",
            names,
            registry=self.registry,
        ).labels(**labels)
        self._generation = Counter(
            "vllm:generation_tokens",
            "Number of generation tokens processed.",
            names,
            registry=self.registry,
        ).labels(**labels)
        self._success: CounterType = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            [*names, "finished_reason"],
            registry=self.registry,
        )
        self._ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            names,
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        self._prefix_queries = Counter(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            names,
            registry=self.registry,
        ).labels(**labels)
        self._prefix_hits = Counter(
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            names,
            registry=self.registry,
        ).labels(**labels)
        self._labels = labels

    def prompt_tokens(self, count: int) -> None:
        self._prompt.inc(count)

    def generation_tokens(self, count: int) -> None:
        self._generation.inc(count)

    def first_token(self, seconds: float) -> None:
        self._ttft.observe(seconds)

    def prefix_cache(self, *, queried: int, hit: int) -> None:
        self._prefix_queries.inc(queried)
        self._prefix_hits.inc(hit)

    def request_succeeded(self, finish_reason: str) -> None:
        self._success.labels(**self._labels, finished_reason=finish_reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
