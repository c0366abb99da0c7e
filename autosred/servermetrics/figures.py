"""What the watch view shows of a model server, from its vLLM families.

``totals`` sums one reading's series over their label sets (a server with several engines
reports one series per engine); ``figures`` turns the readings of the last minute into rates
and quantiles, the way PromQL's ``rate`` and ``histogram_quantile`` would over that window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import Metric

WINDOW_SECONDS = 60.0
"""Rates and quantiles are over the readings of the last minute."""

_RUNNING = "vllm:num_requests_running"
_WAITING = "vllm:num_requests_waiting"
_KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
"""The name since vLLM 0.10, then the older one it still exports (deprecated)."""
_PROMPT = "vllm:prompt_tokens_total"
_GENERATION = "vllm:generation_tokens_total"
_PREFIX_QUERIES = "vllm:prefix_cache_queries_total"
_PREFIX_HITS = "vllm:prefix_cache_hits_total"
_TTFT_BUCKET = "vllm:time_to_first_token_seconds_bucket"
SAMPLES: tuple[str, ...] = (_RUNNING, _WAITING, *_KV_USAGE, _PROMPT, _GENERATION)
SAMPLES += (_PREFIX_QUERIES, _PREFIX_HITS, _TTFT_BUCKET)
"""The sample names the figures are made of: the lines of a reading worth parsing for them."""


@dataclass(frozen=True, slots=True)
class Totals:
    """One reading, summed over label sets; None: the server does not export that series."""

    running: float | None = None
    waiting: float | None = None
    kv_usage: float | None = None
    """The mean over engines (each is a fraction of its own cache)."""
    prompt_tokens: float | None = None
    generation_tokens: float | None = None
    prefix_queries: float | None = None
    prefix_hits: float | None = None
    ttft_buckets: tuple[tuple[float, float], ...] = ()
    """(upper bound, cumulative count), ascending; the last bound is +Inf."""

    def counters(self) -> tuple[float | None, ...]:
        return (
            self.prompt_tokens,
            self.generation_tokens,
            self.prefix_queries,
            self.prefix_hits,
            *(count for _, count in self.ttft_buckets),
        )


@dataclass(frozen=True, slots=True)
class Figures:
    """The admin API's ``ServerFigures``, before the wire."""

    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_usage: float | None = None
    prompt_tokens_per_second: float | None = None
    generation_tokens_per_second: float | None = None
    ttft_p50_seconds: float | None = None
    ttft_p95_seconds: float | None = None
    prefix_cache_hit_rate: float | None = None


def totals(families: Iterable[Metric]) -> Totals:
    sums: dict[str, float] = {}
    kv: dict[str, list[float]] = {}
    buckets: dict[float, float] = {}
    for family in families:
        for sample in family.samples:
            name, value = sample.name, float(sample.value)
            if not math.isfinite(value):
                continue
            if name == _TTFT_BUCKET:
                try:
                    bound = float(sample.labels["le"])
                except (KeyError, ValueError):
                    continue
                buckets[bound] = buckets.get(bound, 0.0) + value
            elif name in _KV_USAGE:
                kv.setdefault(name, []).append(value)
            else:
                sums[name] = sums.get(name, 0.0) + value
    usage = next((kv[name] for name in _KV_USAGE if name in kv), None)
    ordered = tuple(sorted(buckets.items()))
    return Totals(
        running=sums.get(_RUNNING),
        waiting=sums.get(_WAITING),
        kv_usage=sum(usage) / len(usage) if usage else None,
        prompt_tokens=sums.get(_PROMPT),
        generation_tokens=sums.get(_GENERATION),
        prefix_queries=sums.get(_PREFIX_QUERIES),
        prefix_hits=sums.get(_PREFIX_HITS),
        ttft_buckets=ordered if ordered and math.isinf(ordered[-1][0]) else (),
    )


def restarted(older: Totals, newer: Totals) -> bool:
    """Whether a counter went down between two readings: the server restarted (or was
    replaced), so the older readings say nothing about the newer ones."""
    if len(older.ttft_buckets) != len(newer.ttft_buckets):
        return True
    return any(
        old is not None and new is not None and new < old
        for old, new in zip(older.counters(), newer.counters(), strict=True)
    )


def figures(readings: Sequence[tuple[float, Totals]]) -> Figures:
    """From (time, totals) readings in time order, all from one run of the server: gauges
    from the newest, rates and quantiles from the newest against the oldest within the
    window (None until two readings some time apart)."""
    if not readings:
        return Figures()
    now, newest = readings[-1]
    since, oldest = next(
        ((at, t) for at, t in readings if at >= now - WINDOW_SECONDS), readings[-1]
    )
    seconds = now - since
    gauges = Figures(
        requests_running=newest.running,
        requests_waiting=newest.waiting,
        kv_cache_usage=newest.kv_usage,
    )
    if seconds <= 0:
        return gauges
    hits = _delta(oldest.prefix_hits, newest.prefix_hits)
    queries = _delta(oldest.prefix_queries, newest.prefix_queries)
    ttft = [
        (bound, new - old)
        for (bound, new), (_, old) in zip(newest.ttft_buckets, oldest.ttft_buckets, strict=True)
    ]
    return Figures(
        requests_running=gauges.requests_running,
        requests_waiting=gauges.requests_waiting,
        kv_cache_usage=gauges.kv_cache_usage,
        prompt_tokens_per_second=_rate(oldest.prompt_tokens, newest.prompt_tokens, seconds),
        generation_tokens_per_second=_rate(
            oldest.generation_tokens, newest.generation_tokens, seconds
        ),
        ttft_p50_seconds=quantile(0.5, ttft),
        ttft_p95_seconds=quantile(0.95, ttft),
        prefix_cache_hit_rate=hits / queries if hits is not None and queries else None,
    )


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile`` over cumulative buckets ending with +Inf: linear
    within the bucket the rank falls in; in the +Inf bucket, the highest finite bound. None
    without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _delta(old: float | None, new: float | None) -> float | None:
    return None if old is None or new is None else new - old


def _rate(old: float | None, new: float | None, seconds: float) -> float | None:
    change = _delta(old, new)
    return None if change is None else change / seconds
