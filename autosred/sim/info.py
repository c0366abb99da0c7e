"""Health, version, model list and metrics: the GET endpoints a supervisor polls."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from autosred import __version__
from autosred.sim.answers import dumps
from autosred.sim.generation import derive_id
from autosred.sim.state import SimState

SIM_VERSION = f"0.0.0+autosred.sim.{__version__}"
"""What /version reports: PEP 440-valid, sorts below every real vLLM, says what it is."""

OWNER = "autosred-sim"


async def health(request: web.Request, state: SimState) -> web.Response:
    # vLLM: 200 with an empty body once the engine is up.
    del request, state
    return web.Response(status=200)


async def version(request: web.Request, state: SimState) -> web.Response:
    del request, state
    return web.json_response({"version": SIM_VERSION, "simulated": True}, dumps=dumps)


def model_card(state: SimState) -> dict[str, Any]:
    """vLLM's ModelCard, plus `"simulated": true` so nobody mistakes it for a real model."""
    created = int(state.started_at)
    return {
        "id": state.model,
        "object": "model",
        "created": created,
        "owned_by": OWNER,
        "root": state.model,
        "parent": None,
        "max_model_len": state.config.max_model_len,
        "permission": [
            {
                "id": f"modelperm-{derive_id(state.config.seed, 'permission')}",
                "object": "model_permission",
                "created": created,
                "allow_create_engine": False,
                "allow_sampling": True,
                "allow_logprobs": True,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
        "simulated": True,
    }


async def models(request: web.Request, state: SimState) -> web.Response:
    del request
    return web.json_response({"object": "list", "data": [model_card(state)]}, dumps=dumps)


async def metrics(request: web.Request, state: SimState) -> web.Response:
    del request
    return web.Response(body=state.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
