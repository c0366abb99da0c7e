"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic surface's HTTP handlers.

``/v1/messages`` is served by the request flow (proxy/flow.py) through ``MessagesSurface``, the
surface's adapter: the body translated to a chat request, a ``MessageStreamTranslator`` for
the answer, errors in the Anthropic envelope. The query (Claude Code always sends
``?beta=true``), ``anthropic-beta`` and ``anthropic-version`` change nothing: one translation
serves them all (docs/conformance.md, case 7). Both client modes stream from vLLM: a
non-streaming client gets the same events accumulated into one Message, so the two modes give
the same content (case 26).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from autosred.proxy.anthropic.count import to_tokenize_request
from autosred.proxy.anthropic.errors import AnthropicError, map_upstream_error
from autosred.proxy.anthropic.events import Event, encode_events
from autosred.proxy.anthropic.hosted import HostedMessages
from autosred.proxy.anthropic.message import message_from_events
from autosred.proxy.anthropic.request import (
    STREAM_OPTIONS,
    HostedSupport,
    checked_dumps,
    to_chat_request,
)
from autosred.proxy.anthropic.respond import from_bad_request, from_unavailable, from_unknown_model
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.stream import MessageStreamTranslator
from autosred.proxy.body import BadRequest, read_json_object
from autosred.proxy.context import CLIENT_NAME_KEY, PROXY, request_id
from autosred.proxy.exchange import Exchange
from autosred.proxy.flow import Failure, Surface, TranslatedCall, serve
from autosred.proxy.hosted.executor import HostedRun
from autosred.proxy.hosted.seal import ContentSealer
from autosred.proxy.hosted.tools import HostedTools
from autosred.proxy.modelview import model_view
from autosred.proxy.outcome import CLIENT_CLOSED, Outcome
from autosred.proxy.prompt import estimate_prompt_tokens
from autosred.recipes import Recipe, request_priority
from autosred.scaler import ModelUnavailable, UnknownModel


@dataclass(frozen=True)
class MessagesSurface(Surface[TranslatedCall[Event]]):
    """The Anthropic surface's adapter to the request flow, and its own dependencies."""

    signer: ThinkingSigner
    sealer: ContentSealer = field(default_factory=lambda: ContentSealer(secrets.token_bytes(32)))
    """Seals hosted tools' results (``encrypted_content``) and opens them in the history."""
    hosted_tools: HostedTools | None = None
    """The hosted tools the daemon runs; None: they are removed like other server tools."""
    started: float = field(default_factory=time.time)
    """Reported as the models' ``created_at``."""
    api: str = "anthropic"

    @property
    def hosted(self) -> HostedSupport:
        hosted = self.hosted_tools
        return HostedSupport(hosted.kinds if hosted else frozenset(), self.sealer)

    def model_of(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        if model is None:
            raise AnthropicError.invalid_request("model: Field required")
        if not isinstance(model, str) or not model:
            raise AnthropicError.invalid_request("model: Input should be a non-empty string")
        return model

    def error(self, failure: Failure, call: TranslatedCall[Event] | None = None) -> AnthropicError:
        if isinstance(failure, BadRequest):
            return from_bad_request(failure)
        if isinstance(failure, UnknownModel):
            return from_unknown_model(failure)
        if isinstance(failure, ModelUnavailable):
            return from_unavailable(failure)
        return map_upstream_error(
            failure, requested_max_tokens=call.max_tokens if call is not None else None
        )

    def prepare(
        self,
        request: web.Request,
        body: dict[str, Any],
        raw: bytes,
        recipe: Recipe,
        exchange: Exchange,
    ) -> TranslatedCall[Event]:
        chat = to_chat_request(
            body, recipe_view=model_view(recipe), signer=self.signer, hosted=self.hosted
        )
        upstream = chat.body
        if not chat.stream:  # upstream always streams
            upstream = {**upstream, "stream": True, "stream_options": STREAM_OPTIONS}
        translator = MessageStreamTranslator.for_request(
            chat, signer=self.signer, request_id=exchange.request_id
        )
        rounds = None
        hosted = self.hosted_tools
        if chat.hosted and hosted is not None:
            ctx = request.app[PROXY]
            run = HostedRun(
                chat.hosted,
                hosted.web,
                log=ctx.log,
                prior_context=raw.decode("utf-8", "replace"),
                caps=hosted.caps,
                request_id=exchange.request_id,
                metrics=ctx.metrics,
                surface="anthropic",
                client=exchange.client,
            )
            rounds = HostedMessages(
                run=run, translator=translator, body=upstream, sealer=self.sealer
            )
        return TranslatedCall(
            rounds=rounds,
            stream=chat.stream,
            body=upstream,
            wire=checked_dumps(upstream),
            max_tokens=chat.max_tokens,
            priority=request_priority(
                recipe.priority,
                model=chat.client_model,
                headers=request.headers,
                client=exchange.client,
            ),
            translator=translator,
            encode=encode_events,
            answer=lambda events: web.json_response(message_from_events(events)),
        )


SURFACE: web.AppKey[MessagesSurface] = web.AppKey("anthropic", MessagesSurface)


def add_routes(
    app: web.Application,
    *,
    signer: ThinkingSigner,
    sealer: ContentSealer | None = None,
    hosted_tools: HostedTools | None = None,
) -> None:
    """``hosted_tools``: run the hosted web tools (web_search_*, web_fetch_*)."""
    app[SURFACE] = MessagesSurface(
        signer=signer,
        sealer=sealer or ContentSealer(secrets.token_bytes(32)),
        hosted_tools=hosted_tools,
    )
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)


async def messages(request: web.Request) -> web.StreamResponse:
    surface = request.app[SURFACE]
    return await serve(request, surface)


# ------------------------------------------------------------------------------ count_tokens


async def count_tokens(request: web.Request) -> web.Response:
    """Exact: the /v1/messages translation, then the server's /tokenize (case 61); when that
    cannot answer, an estimate that errs high, because an undercount makes Claude Code
    compact too late."""
    ctx = request.app[PROXY]
    surface = request.app[SURFACE]
    rid = request_id(request)
    exchange = Exchange(
        metrics=ctx.metrics,
        log=ctx.log,
        api=surface.api,
        request_id=rid,
        client=request.get(CLIENT_NAME_KEY, "-"),
    )
    try:
        try:
            body, _ = await read_json_object(request)
            recipe = ctx.gate.resolve(surface.model_of(body))
        except (BadRequest, UnknownModel) as exc:
            raise surface.error(exc) from None
        exchange.model = recipe.name
        tokenize = to_tokenize_request(
            body, recipe_view=model_view(recipe), signer=surface.signer, hosted=surface.hosted
        )
        wire = checked_dumps(tokenize)
        async with ctx.gate.lease(recipe.name) as backend:
            counted = await ctx.model_info.count_tokens(ctx.upstream, backend, wire)
    except ModelUnavailable as exc:
        error = surface.error(exc)
        exchange.finish(Outcome(error.status, error=str(error)))
        return error.response(rid)
    except AnthropicError as exc:
        exchange.finish(Outcome(exc.status, error=str(exc)))
        return exc.response(rid)
    except asyncio.CancelledError:
        exchange.finish(Outcome(CLIENT_CLOSED))  # hung up while the model woke
        raise
    exchange.finish(Outcome(200))
    if counted is not None:
        tokens = counted.count
    else:
        tokens = estimate_prompt_tokens(tokenize)
        ctx.log.warning(
            "anthropic.count_estimated",
            extra={"fields": {"request_id": rid, "model": recipe.name, "input_tokens": tokens}},
        )
    return web.json_response({"input_tokens": tokens})
