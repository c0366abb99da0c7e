"""OpenAI pass-through: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.

The upstream already speaks this dialect, so the body goes up as sent (only ``model`` is
rewritten to the recipe's served name, and vLLM's ``priority`` set by the recipe's rules) and
the answer comes back byte for byte, chunk by chunk, through the request flow
(proxy/flow.py) that every surface shares: the same lease, failures, keep-alives and record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from autosred.proxy.body import BadRequest, required_model
from autosred.proxy.context import PROXY
from autosred.proxy.exchange import Exchange
from autosred.proxy.flow import BytesCall, Failure, Surface, serve
from autosred.proxy.openai.errors import (
    OpenAIError,
    map_upstream_error,
    request_error,
)
from autosred.proxy.upstream import encode_body
from autosred.recipes import Recipe, request_priority
from autosred.scaler import ModelUnavailable, UnknownModel


@dataclass(frozen=True)
class PassthroughSurface(Surface[BytesCall]):
    """The pass-through's adapter to the request flow: one per upstream path."""

    path: str
    api: str = "openai"

    def model_of(self, body: dict[str, Any]) -> str:
        return required_model(body)

    def error(self, failure: Failure, call: BytesCall | None = None) -> OpenAIError:
        if isinstance(failure, BadRequest | UnknownModel):
            return request_error(failure)
        if isinstance(failure, ModelUnavailable):
            return OpenAIError.unavailable(failure)
        return map_upstream_error(failure)

    def prepare(
        self,
        request: web.Request,
        body: dict[str, Any],
        raw: bytes,
        recipe: Recipe,
        exchange: Exchange,
    ) -> BytesCall:
        requested = self.model_of(body)
        priority = request_priority(
            recipe.priority, model=requested, headers=request.headers, client=exchange.client
        )
        # The raw bytes go up untouched unless something must change (the fast path).
        rewrite = recipe.served_model_name != requested
        if priority is not None and body.get("priority") != priority:
            body["priority"] = priority  # the operator's rule wins over the client's own value
            rewrite = True
        if rewrite:
            body["model"] = recipe.served_model_name
            try:
                raw = encode_body(body)  # a lone surrogate is escaped, not a crash
            except (ValueError, TypeError, RecursionError) as exc:
                raise OpenAIError(
                    400, f"the request body contains a value that cannot be forwarded: {exc}"
                ) from None
        return BytesCall(path=self.path, wire=raw, stream=body.get("stream") is True)


def add_routes(app: web.Application) -> None:
    for path in ("v1/chat/completions", "v1/completions", "v1/embeddings"):
        app.router.add_post("/" + path, _handler(PassthroughSurface(path)))


def _handler(surface: PassthroughSurface) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve(request, surface)

    handler.__name__ = f"forward_{surface.path.replace('/', '_')}"
    return handler


def _card(name: str, recipe: Recipe, created: int) -> dict[str, Any]:
    card: dict[str, Any] = {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": "autosred",
        "root": recipe.served_model_name,
    }
    if recipe.max_model_len is not None:
        card["max_model_len"] = recipe.max_model_len
    return card


async def list_models(request: web.Request) -> web.Response:
    ctx = request.app[PROXY]
    created = int(time.time())
    data = [
        _card(name, recipe, created)
        for recipe in ctx.gate.catalog
        for name in recipe.client_names()
    ]
    return web.json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    """``GET /v1/models/{id}``: any name the daemon resolves, aliases and globs included."""
    ctx = request.app[PROXY]
    name = request.match_info["model_id"]
    recipe = ctx.gate.catalog.resolve(name)
    if recipe is None:
        error = OpenAIError(
            404, f"model {name!r} is not served here", param="model", code="model_not_found"
        )
        return error.response()
    return web.json_response(_card(name, recipe, int(time.time())))
