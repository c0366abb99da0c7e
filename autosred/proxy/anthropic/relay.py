"""One Messages request against a leased model server: fit, send, translate, relay.

Both client modes stream from vLLM. A streaming client gets every translated event as soon as
it exists; a non-streaming one gets the same events accumulated into one Message. So the two
modes give the same content (case 26), usage is read in one place, and a long non-streamed
generation never trips the upstream read timeout (vLLM says nothing until it is done).

A failure before any event reached the client raises ``EarlyFailure`` (the handler answers
with an HTTP error); after that it is an ``error`` event in the stream, never a made-up
``end_turn`` (case 22).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from autosred.metrics import Metrics
from autosred.proxy.anthropic.errors import AnthropicError, map_upstream_error
from autosred.proxy.anthropic.events import Event
from autosred.proxy.anthropic.request import ChatRequest, checked_dumps, serialise
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.stream import MessageStreamTranslator
from autosred.proxy.modelinfo import ModelInfo
from autosred.proxy.prompt import (
    clamp_max_tokens,
    estimate_prompt_tokens,
    prompt_tokens_ceiling,
    tokenize_body,
)
from autosred.proxy.sse import SSEDecoder
from autosred.proxy.upstream import UNREACHABLE_RETRY_AFTER, UPSTREAM_CONNECT_ERRORS, UpstreamError
from autosred.scaler import Backend

Emit = Callable[[list[Event]], Awaitable[None]]
# The hot path parses one small chunk per event: raw_decode on str skips json.loads' encoding
# detection and argument handling, about half its cost.
_raw_decode = json.JSONDecoder().raw_decode
STREAM_OPTIONS = {"include_usage": True, "continuous_usage_stats": True}
"""As the translator needs them: the prompt size in the first chunk, the usage at the end."""


class EarlyFailure(Exception):
    """The request failed before the client got any event: answer with an HTTP error."""

    def __init__(self, error: AnthropicError, *, retry_after: str | int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class MessageRelay:
    """The upstream side of one ``/v1/messages`` request (create one per request)."""

    def __init__(
        self,
        *,
        chat: ChatRequest,
        signer: ThinkingSigner,
        info: ModelInfo,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        log: logging.Logger,
        request_id: str,
        priority: int | None,
        ping_interval: float | None,
    ) -> None:
        self.chat = chat
        self._signer = signer
        self._info = info
        self._session = session
        self._metrics = metrics
        self._log = log
        self._request_id = request_id
        self._priority = priority
        self._ping_interval = ping_interval
        self._prompt_tokens: int | None = None  # exact, when /tokenize was asked
        self._model = "-"
        self.usage: dict[str, Any] | None = None
        """The final ``message_delta`` usage, once the message is complete."""
        self.anomalies: list[str] = []

    # ------------------------------------------------------------------------------ request

    async def _fit(self, backend: Backend) -> ChatRequest:
        """The upstream request: max_tokens clamped to the context left, priority added."""
        chat = self.chat
        requested = chat.max_tokens
        if requested is not None:
            limit = await self._info.max_model_len(self._session, backend)
            # Cheapest first: a byte bound, then the estimate (both err high), and only a
            # request that might not fit pays for an exact count (a /tokenize round trip).
            if limit is not None and requested + prompt_tokens_ceiling(serialise(chat)) > limit:
                estimate = estimate_prompt_tokens(chat.body)
                if requested + estimate > limit:
                    counted = await self._info.count_tokens(
                        self._session, backend, checked_dumps(tokenize_body(chat.body))
                    )
                    prompt = estimate
                    if counted is not None:
                        prompt = self._prompt_tokens = counted.count
                        limit = counted.max_model_len or limit
                    allowed = clamp_max_tokens(requested, prompt, limit)
                    if allowed < requested:
                        self._log.debug(
                            "anthropic.max_tokens_clamped",
                            extra={
                                "fields": {
                                    "model": backend.recipe.name,
                                    "requested": requested,
                                    "allowed": allowed,
                                    "prompt_tokens": prompt,
                                    "max_model_len": limit,
                                }
                            },
                        )
                        chat = chat.with_max_tokens(allowed)
        if not chat.stream:
            chat = chat.with_fields(stream=True, stream_options=STREAM_OPTIONS)
        if self._priority is not None:
            chat = chat.with_fields(priority=self._priority)
        return chat

    async def run(self, backend: Backend, emit: Emit) -> None:
        """Send the request and ``emit`` every translated event until the message ends."""
        chat = await self._fit(backend)
        translator = MessageStreamTranslator.for_request(
            chat,
            signer=self._signer,
            request_id=self._request_id,
            input_tokens=self._prompt_tokens or 0,
        )
        model = self._model = backend.recipe.name
        try:
            upstream = await self._session.post(
                backend.url / "v1" / "chat" / "completions",
                data=serialise(chat),
                headers={
                    "Content-Type": "application/json",
                    "Accept-Encoding": "identity",  # the bytes are parsed here, not relayed
                    "X-Request-Id": self._request_id,
                },
            )
        except UPSTREAM_CONNECT_ERRORS as exc:
            backend.report_unreachable()
            self._metrics.upstream_errors.labels(model=model, kind="connect").inc()
            self._log.warning(
                "anthropic.upstream_unreachable",
                extra={"fields": {"model": model, "error": str(exc)}},
            )
            error = map_upstream_error(UpstreamError("connect", detail=str(exc)))
            raise EarlyFailure(error, retry_after=UNREACHABLE_RETRY_AFTER) from None
        clean = False
        try:
            if upstream.status != 200:
                raise await self._refusal(upstream, model)
            clean = await self._pump(upstream, translator, emit)
        finally:
            self.anomalies = translator.anomalies
            if clean:
                upstream.release()
            else:
                # Closing the connection is how vLLM learns to abort the generation and free
                # its KV cache (client gone, stream broken, or not worth reading to the end).
                upstream.close()

    async def _refusal(self, upstream: aiohttp.ClientResponse, model: str) -> EarlyFailure:
        self._metrics.upstream_errors.labels(model=model, kind="status").inc()
        try:
            payload: bytes = await upstream.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            payload = str(exc).encode()
        error = map_upstream_error(
            UpstreamError("http", status=upstream.status, body=payload),
            requested_max_tokens=self.chat.max_tokens,
        )
        self._log.info(
            "anthropic.upstream_refused",
            extra={"fields": {"model": model, "http": upstream.status, "error": error.message}},
        )
        retry_after = upstream.headers.get("Retry-After")
        if retry_after is None and error.type == "overloaded_error":
            retry_after = str(UNREACHABLE_RETRY_AFTER)
        return EarlyFailure(error, retry_after=retry_after)

    # ------------------------------------------------------------------------------ stream

    async def _first_read(
        self, content: aiohttp.StreamReader, translator: MessageStreamTranslator, emit: Emit
    ) -> bytes:
        """The first bytes; meanwhile a ``ping`` (message_start first) every ``ping_interval``
        so that a long prefill does not look like a dead connection (case 24)."""
        interval = self._ping_interval
        while interval is not None:
            timer = asyncio.timeout(interval)
            try:
                async with timer:
                    return await content.readany()
            except TimeoutError:
                if not timer.expired():
                    raise  # aiohttp's own read timeout: the server went silent
            if self._prompt_tokens is None:
                translator.expect_input_tokens(estimate_prompt_tokens(self.chat.body))
            await self._emit(emit, translator.ping())
        return await content.readany()

    async def _pump(
        self, upstream: aiohttp.ClientResponse, translator: MessageStreamTranslator, emit: Emit
    ) -> bool:
        """Relay until the message ends; True when the upstream response was read to its end
        (the connection can be reused)."""
        decoder = SSEDecoder()
        failure: UpstreamError | None = None
        done = False
        first = True
        while not done:
            try:
                if first:
                    data = await self._first_read(upstream.content, translator, emit)
                    first = False
                else:
                    data = await upstream.content.readany()
            except aiohttp.ServerTimeoutError:
                failure = UpstreamError("timeout")
                break
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                # After finish_reason only the usage chunk is missing: end the message with
                # the running usage (case 21) rather than fail a complete answer.
                if not translator.finishing:
                    failure = UpstreamError("closed", detail=str(exc))
                break
            if not data:
                break
            events: list[Event] = []
            for payload in decoder.feed(data):
                if payload == b"[DONE]":
                    done = True
                    break
                try:
                    text = payload.decode()
                    chunk, end = _raw_decode(text)
                    if end != len(text) and not text[end:].isspace():
                        chunk = None
                except ValueError:  # JSON or UTF-8 errors
                    chunk = None
                if not isinstance(chunk, dict):
                    detail = payload[:120].decode("utf-8", "replace")
                    events += translator.close(UpstreamError("protocol", detail=detail))
                    break
                events += translator.feed(chunk)
            if events:
                await self._emit(emit, events)
            if translator.finished and not done:
                # Ended (message_stop or error): what could follow is only [DONE].
                break
        if failure is not None:
            self._metrics.upstream_errors.labels(model=self._model, kind="disconnect").inc()
            self._log.warning(
                "anthropic.upstream_dropped",
                extra={
                    "fields": {"model": self._model, "kind": failure.kind, "error": failure.detail}
                },
            )
        tail = translator.close(failure)
        if tail:
            await self._emit(emit, tail)
        return done

    async def _emit(self, emit: Emit, events: list[Event]) -> None:
        if events[-1].type == "message_stop" and len(events) >= 2:
            self.usage = events[-2].data.get("usage")
        await emit(events)
