"""GET /v1/models and /v1/models/{id} in the Anthropic shape (docs/conformance.md, cases 64, 65).

The api app answers in this shape when the request carries ``anthropic-version`` (LiteLLM
PR#35455 negotiates the same way): Claude Code's gateway model discovery
(``CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1``) reads it and keeps Claude-looking ids, so
each recipe's ``claude_label`` comes first, then the recipe's other literal names.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.anthropic.handler import SURFACE
from autosred.proxy.context import PROXY, request_id
from autosred.recipes import Recipe

DEFAULT_LIMIT = 20  # the Anthropic API's page size
MAX_LIMIT = 1000


def _created_at(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _entry(name: str, recipe: Recipe, created_at: str) -> dict[str, Any]:
    what = recipe.model or recipe.served_model_name
    return {
        "type": "model",
        "id": name,
        "display_name": f"{what} (self-hosted)",
        "created_at": created_at,
    }


def _names(recipe: Recipe) -> list[str]:
    names = [recipe.claude_label] if recipe.claude_label else []
    return list(dict.fromkeys([*names, *recipe.client_names()]))


async def list_models(request: web.Request) -> web.Response:
    ctx = request.app[PROXY]
    created_at = _created_at(request.app[SURFACE].started)
    entries = [
        _entry(name, recipe, created_at) for recipe in ctx.gate.catalog for name in _names(recipe)
    ]
    try:
        page, has_more = _page(entries, request.query)
    except AnthropicError as exc:
        return exc.response(request_id(request))
    return web.json_response(
        {
            "data": page,
            "has_more": has_more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


def _page(entries: list[dict[str, Any]], query: Any) -> tuple[list[dict[str, Any]], bool]:
    """``limit`` with ``after_id`` (the next page) or ``before_id`` (the previous one)."""
    raw = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise AnthropicError.invalid_request(
                f"limit: Input should be an integer between 1 and {MAX_LIMIT}"
            )
        limit = int(raw)
    ids = [entry["id"] for entry in entries]
    for key in ("after_id", "before_id"):
        if key in query and query[key] not in ids:
            raise AnthropicError.invalid_request(f"{key}: unknown model id {query[key]!r}")
    if "before_id" in query:
        end = ids.index(query["before_id"])
        start = max(0, end - limit)
        return entries[start:end], start > 0
    start = ids.index(query["after_id"]) + 1 if "after_id" in query else 0
    return entries[start : start + limit], start + limit < len(entries)


async def get_model(request: web.Request) -> web.Response:
    ctx = request.app[PROXY]
    name = request.match_info["model_id"]
    recipe = ctx.gate.catalog.resolve(name)
    if recipe is None:
        error = AnthropicError.of_type("not_found_error", f"model: {name!r} is not served here")
        return error.response(request_id(request))
    return web.json_response(_entry(name, recipe, _created_at(request.app[SURFACE].started)))
