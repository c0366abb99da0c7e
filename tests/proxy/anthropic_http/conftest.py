"""One real daemon per test worker for the whole package, in front of autosred-sim.

Recipes (each a simulated vLLM run by the process engine):
  sim      the main model: claude-* aliases, label claude-sonnet-4-5, a 200k context read
           from the server's /v1/models (not stated in the recipe), enable_thinking switch,
           priority rules for haiku-class names, the title request's beta header and the
           batch client;
  text     a text-only model: images and PDFs rejected, the `thinking` switch, budget
           forwarded, effort not; context 2048 stated in the recipe;
  notok    a server whose /tokenize cannot serve the recipe's model (count_tokens estimates);
  fragile  wakes slowly (keep-alive comments), and a test kills it (connection refused);
  broken   its wake fails after a while (in-band error after the 200);
  capped   hold_cap 0: a request that needs a wake is refused at once (529).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.proxy.anthropic_http.support import BATCH_TOKEN, TOKEN, Api, sha256
from tests.support.daemon import SIM_COMMAND, Daemon, base_config, running_daemon, sim_recipe

SIM_CONTEXT = 200_000
PRIORITY_RULES = [
    {"model": "*haiku*", "priority": 10},
    {"header": {"name": "anthropic-beta", "value": "*structured-outputs-*"}, "priority": 5},
    {"client": "batch", "priority": 20},
]


def daemon_config(tmp_path: Path) -> dict[str, Any]:
    main = sim_recipe(
        "sim",
        aliases=["claude-*", "sim-alias", "gpt-4o"],
        claude_label="claude-sonnet-4-5",
        sim_args=["--max-model-len", str(SIM_CONTEXT)],
        reasoning={"template_switch": "enable_thinking"},
        priority=PRIORITY_RULES,
    )
    text = sim_recipe(
        "text",
        aliases=["text-*"],
        max_model_len=2048,
        sim_args=["--max-model-len", "2048"],
        images="reject",
        documents="reject",
        reasoning={"template_switch": "thinking", "effort": False, "budget": True},
    )
    notok = sim_recipe("notok", aliases=["notok-*"])
    # The server answers to another name, so /tokenize for the recipe's model is a 404.
    notok["command"] = [
        *SIM_COMMAND[: SIM_COMMAND.index("{served_model_name}")],
        "some-other-model",
    ]
    fragile = sim_recipe("fragile", aliases=["fragile-*"], startup_delay=0.8)
    broken = sim_recipe(
        "broken", aliases=["broken-*"], startup_delay=0.6, sim_args=["--fail-start", "no weights"]
    )
    capped = sim_recipe("capped", aliases=["capped-*"], hold_cap=0)
    clients = [
        {"name": "tester", "token_sha256": sha256(TOKEN)},
        {"name": "batch", "token_sha256": sha256(BATCH_TOKEN)},
    ]
    return base_config(
        tmp_path,
        [main, text, notok, fragile, broken, capped],
        api={"clients": clients},
        # Server tools are removed here, web_search_* and web_fetch_* too (case 28 with the
        # hosted tools off); tests/proxy/hosted_http runs them.
        hosted_tools={"web_search": {"enabled": False}, "web_fetch": {"enabled": False}},
        # Room for every model at once: no test waits for a model switch.
        scaler={"gpu_capacity": 8},
    )


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def daemon(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("anth")
    async with running_daemon(tmp_path, daemon_config(tmp_path)) as running:
        yield running


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def api(daemon: Daemon) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(daemon, session)
