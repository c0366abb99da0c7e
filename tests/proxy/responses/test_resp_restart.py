"""encrypted_content outlives a daemon restart: its key derives from the secret in state_dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.daemon import base_config, running_daemon, sim_recipe


def _directive(**spec: Any) -> str:
    return "#sim " + json.dumps(spec)


async def _post(session: aiohttp.ClientSession, url: str, payload: dict[str, Any]) -> Any:
    async with session.post(url + "/v1/responses", json=payload) as response:
        assert response.status == 200, await response.text()
        return response.headers["request-id"], await response.json()


async def test_reasoning_sealed_before_a_restart_opens_after_it(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    recipes = [sim_recipe("sim", aliases=["gpt-*"])]
    spec = {"reasoning": "Remember me.", "text": "ok"}
    first = {
        "model": "gpt-5.5",
        "input": _directive(**spec),
        "include": ["reasoning.encrypted_content"],
        "store": False,
    }
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    async with aiohttp.ClientSession() as session:
        config = base_config(tmp_path / "one", recipes, state_dir=state)
        async with running_daemon(tmp_path / "one", config) as daemon:
            _, reply = await _post(session, daemon.api_url, first)
        reasoning, message = reply["output"]
        assert reasoning["encrypted_content"]
        config = base_config(tmp_path / "two", recipes, state_dir=state)
        async with running_daemon(tmp_path / "two", config) as daemon:
            follow = {
                "model": "gpt-5.5",
                "input": [
                    {"role": "user", "content": _directive(**spec)},
                    reasoning,
                    message,
                    {"role": "user", "content": _directive(text="again")},
                ],
                "store": False,
            }
            request_id, _ = await _post(session, daemon.api_url, follow)
            endpoint = (await daemon.model("sim"))["endpoint"]
            async with session.get(f"{endpoint}/sim/requests") as listing:
                records = await listing.json()
    record = next(
        r
        for r in records
        if {k.lower(): v for k, v in r["headers"].items()}.get("x-request-id") == request_id
    )
    assert record["body"]["messages"][1] == {
        "role": "assistant",
        "content": "ok",
        "reasoning": "Remember me.",
    }
