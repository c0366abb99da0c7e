"""The simulator-only API and the simulator's self-description."""

from __future__ import annotations

import aiohttp

from autosred.sim import SimHandle

from .helpers import MODEL, user


async def test_models_say_plainly_this_is_a_simulator(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    async with http.get(sim.url + "/v1/models") as response:
        listing = await response.json()
    assert listing["object"] == "list"
    (card,) = listing["data"]
    assert card["id"] == card["root"] == MODEL
    assert card["object"] == "model"
    assert card["owned_by"] == "autosred-sim"
    assert card["simulated"] is True
    assert card["max_model_len"] == 4096
    assert card["parent"] is None
    assert card["permission"][0]["object"] == "model_permission"
    async with http.get(sim.url + "/version") as response:
        version = await response.json()
    assert "autosred.sim" in version["version"]
    async with http.get(sim.url + "/health") as response:
        assert response.status == 200
        assert await response.read() == b""


async def test_requests_are_recorded_in_order_with_headers_and_body(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    async with http.get(sim.url + "/health"):  # polls are not recorded
        pass
    body = {"model": MODEL, "messages": user("first")}
    async with http.post(
        sim.url + "/v1/chat/completions", json=body, headers={"X-Trace": "t-1"}
    ) as response:
        tag = response.headers["X-Sim-Request-Id"]
    async with http.post(sim.url + "/tokenize", json={"prompt": "second"}):
        pass

    async with http.get(sim.url + "/sim/requests") as response:
        records = await response.json()
    assert [r["path"] for r in records] == ["/v1/chat/completions", "/tokenize"]
    first = records[0]
    assert str(first["id"]) == tag
    assert first["body"] == body
    assert first["headers"]["X-Trace"] == "t-1"
    assert first["status"] == "completed"
    assert first["http_status"] == 200
    assert first["response_id"].startswith("chatcmpl-")
    assert first["finish_reason"] == "stop"

    async with http.get(sim.url + "/sim/requests?path=/tokenize") as response:
        assert [r["body"] for r in await response.json()] == [{"prompt": "second"}]
    async with http.delete(sim.url + "/sim/requests") as response:
        assert await response.json() == {"cleared": 2}
    assert sim.requests() == []
    async with http.post(sim.url + "/tokenize", json={"prompt": "third"}) as response:
        assert response.headers["X-Sim-Request-Id"] == "3"  # ids keep counting


async def test_stats_count_outcomes(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    for body in ({"messages": user("ok")}, {"model": "other", "messages": []}):
        async with http.post(sim.url + "/v1/chat/completions", json=body):
            pass
    async with http.get(sim.url + "/sim/stats") as response:
        stats = await response.json()
    assert stats["simulated"] is True
    assert stats["completed"] == 1
    assert stats["failed"] == 1
    assert stats["generations"] == 1
    assert stats["max_running"] == 1
    assert stats["prompt_tokens_total"] > 0
