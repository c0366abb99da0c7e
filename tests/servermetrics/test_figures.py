"""The watch view's figures from successive readings, as PromQL would compute them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from autosred.servermetrics.figures import Totals, figures, quantile, restarted, totals

INF = math.inf


def _reading(
    *, prompt: float, generation: float, hits: float, queries: float, ttft: list[float]
) -> Totals:
    bounds = (0.1, 0.5, 1.0, INF)
    return Totals(
        running=1.0,
        waiting=2.0,
        kv_usage=0.5,
        prompt_tokens=prompt,
        generation_tokens=generation,
        prefix_queries=queries,
        prefix_hits=hits,
        ttft_buckets=tuple(zip(bounds, ttft, strict=True)),
    )


def test_rates_and_quantiles_over_the_window() -> None:
    first = _reading(prompt=100, generation=10, hits=0, queries=100, ttft=[1, 1, 1, 1])
    second = _reading(prompt=1100, generation=210, hits=600, queries=1100, ttft=[1, 5, 11, 11])
    result = figures([(10.0, first), (20.0, second)])
    assert result.prompt_tokens_per_second == 100
    assert result.generation_tokens_per_second == 20
    assert result.prefix_cache_hit_rate == 0.6
    # 10 new observations: 4 in (0.1, 0.5], 6 in (0.5, 1.0]. p50: rank 5, in the second bucket.
    assert result.ttft_p50_seconds == pytest.approx(0.5 + 0.5 * (5 - 4) / 6)
    assert result.ttft_p95_seconds == pytest.approx(0.5 + 0.5 * (9.5 - 4) / 6)
    assert (result.requests_running, result.requests_waiting, result.kv_cache_usage) == (
        1.0,
        2.0,
        0.5,
    )


def test_one_reading_has_gauges_only() -> None:
    only = _reading(prompt=1, generation=1, hits=0, queries=0, ttft=[0, 0, 0, 0])
    result = figures([(5.0, only)])
    assert result.requests_running == 1.0
    assert result.prompt_tokens_per_second is None and result.ttft_p50_seconds is None


def test_readings_older_than_a_minute_are_not_used() -> None:
    old = _reading(prompt=0, generation=0, hits=0, queries=0, ttft=[0, 0, 0, 0])
    mid = _reading(prompt=1000, generation=0, hits=0, queries=0, ttft=[0, 0, 0, 0])
    new = _reading(prompt=1600, generation=0, hits=0, queries=0, ttft=[0, 0, 0, 0])
    result = figures([(0.0, old), (40.0, mid), (100.0, new)])
    assert result.prompt_tokens_per_second == 10  # (1600 - 1000) / 60 s
    assert result.prefix_cache_hit_rate is None, "no queries: no rate"
    assert result.ttft_p50_seconds is None, "no observations: no quantile"


def test_a_counter_going_down_is_a_restart() -> None:
    before = _reading(prompt=500, generation=5, hits=0, queries=0, ttft=[0, 0, 0, 0])
    after = _reading(prompt=20, generation=5, hits=0, queries=0, ttft=[0, 0, 0, 0])
    assert restarted(before, after)
    assert not restarted(before, before)


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert quantile(0.99, [(0.1, 0.0), (1.0, 1.0), (INF, 10.0)]) == 1.0
    assert quantile(0.5, []) is None


@given(
    st.lists(st.integers(0, 50), min_size=2, max_size=6),
    st.floats(0.0, 1.0),
)
def test_a_quantile_lies_within_the_bucket_its_rank_falls_in(counts: list[int], q: float) -> None:
    bounds = [0.01 * 2**i for i in range(len(counts) - 1)] + [INF]
    cumulative = [float(sum(counts[: i + 1])) for i in range(len(counts))]
    value = quantile(q, list(zip(bounds, cumulative, strict=True)))
    if cumulative[-1] == 0:
        assert value is None
        return
    assert value is not None
    rank = q * cumulative[-1]
    index = next(i for i, count in enumerate(cumulative) if count >= rank)
    lower = bounds[index - 1] if index else 0.0
    upper = bounds[index] if bounds[index] != INF else lower
    assert lower <= value <= upper


def test_totals_sum_engines_and_average_kv_usage() -> None:
    text = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0"} 2
vllm:num_requests_running{engine="1"} 3
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0"} 0.2
vllm:gpu_cache_usage_perc{engine="1"} 0.4
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5"} 1
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf"} 2
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5"} 3
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf"} 3
vllm:time_to_first_token_seconds_count{engine="0"} 2
vllm:time_to_first_token_seconds_sum{engine="0"} 1.5
"""
    result = totals(text_string_to_metric_families(text))
    assert result.running == 5
    assert result.kv_usage == pytest.approx(0.3), "the older name, when the newer is absent"
    assert result.ttft_buckets == ((0.5, 4.0), (INF, 5.0))
    assert result.waiting is None and result.prompt_tokens is None
