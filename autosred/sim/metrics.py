"""`/metrics`: vLLM-named Prometheus series on the simulator's own registry.

Series (labels `model_name`, `engine="0"` like vLLM's V1 engine):
- `vllm:num_requests_running`, `vllm:num_requests_waiting` (gauges; waiting is always 0, the
  simulator has no queue);
- `vllm:kv_cache_usage_perc` and its deprecated twin `vllm:gpu_cache_usage_perc` (gauges, a
  fraction 0..1 like vLLM's): tokens held by running requests / simulated KV capacity;
- `vllm:prompt_tokens_total`, `vllm:generation_tokens_total` (counters; toy tokens);
- `vllm:request_success_total{finished_reason=...}` (counter, requests that ran to the end).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics import Counter as CounterType


class SimMetrics:
    """The Prometheus side of one simulator; gauges read live state at scrape time."""

    def __init__(
        self,
        *,
        model: str,
        running: Callable[[], float],
        kv_usage: Callable[[], float],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"model_name": model, "engine": "0"}
        names = list(labels)

        def gauge(name: str, doc: str, read: Callable[[], float]) -> None:
            Gauge(name, doc, names, registry=self.registry).labels(**labels).set_function(read)

        gauge("vllm:num_requests_running", "Requests in model execution batches.", running)
        gauge("vllm:num_requests_waiting", "Requests waiting to be processed.", lambda: 0.0)
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
        self._labels = labels

    def prompt_tokens(self, count: int) -> None:
        self._prompt.inc(count)

    def generation_tokens(self, count: int) -> None:
        self._generation.inc(count)

    def request_succeeded(self, finish_reason: str) -> None:
        self._success.labels(**self._labels, finished_reason=finish_reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
