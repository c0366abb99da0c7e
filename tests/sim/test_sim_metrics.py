"""GET /metrics: vLLM-named series on the simulator's own registry, and they move."""

from __future__ import annotations

import re

import aiohttp
from prometheus_client import REGISTRY

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
