"""GET /metrics: vLLM-named series on the simulator's own registry, and they move."""

from __future__ import annotations

import asyncio
import re

import aiohttp
from prometheus_client import REGISTRY, Metric
from prometheus_client.parser import text_string_to_metric_families

from autosred.sim import SimConfig, SimHandle, running_sim

from .helpers import MODEL, directive, user

SERIES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:gpu_cache_usage_perc",
    "vllm:kv_cache_usage_perc",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
)


async def _scrape(http: aiohttp.ClientSession, sim: SimHandle) -> dict[str, float]:
    async with http.get(sim.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        found = re.match(r'^([a-z_:]+)\{engine="0",model_name="([^"]+)"\} (\S+)$', line)
        if found:
            assert found.group(2) == MODEL
            values[found.group(1)] = float(found.group(3))
    return values


async def test_series_are_present_and_counters_move(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    before = await _scrape(http, sim)
    assert set(SERIES) <= set(before)
    assert before["vllm:prompt_tokens_total"] == 0

    body = {"model": MODEL, "messages": user(directive(text="abcdefgh", chunk_size=2))}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as response:
        usage = (await response.json())["usage"]
    after = await _scrape(http, sim)

    assert after["vllm:prompt_tokens_total"] == usage["prompt_tokens"]
    assert after["vllm:generation_tokens_total"] == 4
    assert after["vllm:num_requests_running"] == 0
    assert after["vllm:kv_cache_usage_perc"] == 0


async def test_running_and_kv_usage_while_a_stream_hangs(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    body = {"model": MODEL, "messages": user(directive(hang_after=1)), "stream": True}
    response = await http.post(sim.url + "/v1/chat/completions", json=body)
    await response.content.readuntil(b"\n\n")
    await response.content.readuntil(b"\n\n")
    during = await _scrape(http, sim)
    assert during["vllm:num_requests_running"] == 1
    assert during["vllm:kv_cache_usage_perc"] > 0
    assert during["vllm:gpu_cache_usage_perc"] == during["vllm:kv_cache_usage_perc"]
    response.close()


async def test_two_sims_in_one_process_keep_separate_metrics(
    http: aiohttp.ClientSession,
) -> None:
    async with (
        running_sim(SimConfig(model="a")) as first,
        running_sim(SimConfig(model="b")) as second,
    ):
        async with http.post(
            first.url + "/v1/chat/completions", json={"messages": user("hi")}
        ) as response:
            assert response.status == 200
        async with http.get(second.url + "/metrics") as response:
            text = await response.text()
    assert 'model_name="b"' in text
    assert 'model_name="a"' not in text
    assert re.search(r'vllm:prompt_tokens_total\{[^}]*model_name="b"\} 0\.0', text)
    assert REGISTRY.get_sample_value("vllm:prompt_tokens_total") is None  # nothing global


def _families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _sample(family: Metric, name: str, **labels: str) -> float:
    for sample in family.samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    raise AssertionError(f"no {name} {labels} in {family.samples}")


async def test_time_to_first_token_is_a_histogram_with_vllms_buckets(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    for stream in (False, True):
        body = {"model": MODEL, "messages": user(directive(text="a b c")), "stream": stream}
        async with http.post(sim.url + "/v1/chat/completions", json=body) as response:
            assert response.status == 200
            await response.read()
    async with http.get(sim.url + "/metrics") as response:
        families = _families(await response.text())
    ttft = families["vllm:time_to_first_token_seconds"]
    assert ttft.type == "histogram"
    assert _sample(ttft, "vllm:time_to_first_token_seconds_count", model_name=MODEL) == 2
    bounds = sorted(float(s.labels["le"]) for s in ttft.samples if s.name.endswith("_bucket"))
    assert bounds[:3] == [0.001, 0.005, 0.01] and bounds[-2:] == [2560.0, float("inf")]


async def test_a_resent_conversation_hits_the_prefix_cache(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    history = " ".join(f"word{i}" for i in range(200))
    for turn in ("first question", "second question"):
        body = {"model": MODEL, "messages": user(f"{history} {turn}")}
        async with http.post(sim.url + "/v1/chat/completions", json=body) as response:
            prompt_tokens = (await response.json())["usage"]["prompt_tokens"]
    async with http.get(sim.url + "/metrics") as response:
        families = _families(await response.text())
    queries = _sample(families["vllm:prefix_cache_queries"], "vllm:prefix_cache_queries_total")
    hits = _sample(families["vllm:prefix_cache_hits"], "vllm:prefix_cache_hits_total")
    assert queries == 2 * prompt_tokens
    # The second prompt shares the history's whole blocks with the first; the first hit nothing.
    assert prompt_tokens - 2 * 16 <= hits < prompt_tokens
    assert hits % 16 == 0


async def test_requests_beyond_max_num_seqs_wait_in_line(http: aiohttp.ClientSession) -> None:
    async with running_sim(SimConfig(model=MODEL, max_num_seqs=1)) as sim:
        body = {"model": MODEL, "messages": user(directive(hang_after=1)), "stream": True}
        first = await http.post(sim.url + "/v1/chat/completions", json=body)
        await first.content.readuntil(b"\n\n")
        second = asyncio.create_task(
            http.post(sim.url + "/v1/chat/completions", json={"messages": user("next")})
        )
        async with asyncio.timeout(10):
            while (await _scrape(http, sim)).get("vllm:num_requests_waiting") != 1:
                await asyncio.sleep(0.02)
        during = await _scrape(http, sim)
        assert during["vllm:num_requests_running"] == 1
        assert not second.done(), "it waits for the running one"
        first.close()  # the client goes: its place in the batch is free
        async with asyncio.timeout(10):
            response = await second
        assert response.status == 200
        response.release()
        after = await _scrape(http, sim)
        assert (after["vllm:num_requests_waiting"], after["vllm:num_requests_running"]) == (0, 0)
