"""One Responses request against a leased model server: fit, send, translate, relay.

Upstream always streams, whatever the client asked: a streaming client gets every event as
soon as it exists, a non-streaming one the response object the same translator built (case
83), so both modes give the same output and usage, and a long non-streamed generation never
trips the upstream read timeout.

A failure before any event was produced raises ``EarlyFailure`` (the handler answers with an
HTTP error in the OpenAI envelope); after that it is ``response.failed`` (case 80).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import aiohttp

from autosred.metrics import Metrics
from autosred.proxy.modelinfo import ModelInfo
from autosred.proxy.prompt import (
    clamp_max_tokens,
    estimate_prompt_tokens,
    prompt_tokens_ceiling,
    tokenize_body,
)
from autosred.proxy.responses.errors import ResponsesError, map_upstream_error
from autosred.proxy.responses.events import Event
from autosred.proxy.responses.request import ResponsesRequest, dumps, serialise
from autosred.proxy.responses.stream import ResponsesStreamTranslator
from autosred.proxy.sse import SSEDecoder
from autosred.proxy.upstream import UPSTREAM_CONNECT_ERRORS, UpstreamError
from autosred.scaler import Backend

Emit = Callable[[list[Event]], Awaitable[None]]
# The hot path parses one small chunk per event: raw_decode on str skips json.loads' type
# checks and encoding detection, about half its cost.
_raw_decode = json.JSONDecoder().raw_decode


class EarlyFailure(Exception):
    """The request failed before the client got any event: answer with an HTTP error."""

    def __init__(self, error: ResponsesError) -> None:
        super().__init__(error.message)
        self.error = error


class ResponseRelay:
    """The upstream side of one ``/v1/responses`` request (create one per request)."""

    def __init__(
        self,
        *,
        request: ResponsesRequest,
        info: ModelInfo,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        log: logging.Logger,
        request_id: str,
        priority: int | None,
        keepalive_interval: float | None,
    ) -> None:
        self.request = request
        self._info = info
        self._session = session
        self._metrics = metrics
        self._log = log
        self._request_id = request_id
        self._priority = priority
        self._keepalive_interval = keepalive_interval
        self._model = "-"

    async def _fit(self, backend: Backend) -> ResponsesRequest:
        """The upstream request: max_tokens clamped to the context left, priority added."""
        request = self.request
        requested = request.max_output_tokens
        if requested is not None:
            limit = await self._info.max_model_len(self._session, backend)
            # Cheapest first: a byte bound, then the estimate (both err high); only a request
            # that might not fit pays for an exact count (one /tokenize round trip).
            if limit is not None and requested + prompt_tokens_ceiling(serialise(request)) > limit:
                estimate = estimate_prompt_tokens(request.body)
                if requested + estimate > limit:
                    counted = await self._info.count_tokens(
                        self._session, backend, dumps(tokenize_body(request.body))
                    )
                    prompt = estimate
                    if counted is not None:
                        prompt = counted.count
                        limit = counted.max_model_len or limit
                    allowed = clamp_max_tokens(requested, prompt, limit)
                    if allowed < requested:
                        request = request.with_fields(max_tokens=allowed)
        if self._priority is not None:
            request = request.with_fields(priority=self._priority)
        return request

    async def run(
        self, backend: Backend, translator: ResponsesStreamTranslator, emit: Emit
    ) -> None:
        """Send the request and ``emit`` every translated event until the response ends."""
        request = await self._fit(backend)
        model = self._model = backend.recipe.name
        try:
            upstream = await self._session.post(
                backend.url / "v1" / "chat" / "completions",
                data=serialise(request),
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
                "responses.upstream_unreachable",
                extra={"fields": {"model": model, "error": str(exc)}},
            )
            error = map_upstream_error(UpstreamError("connect", detail=str(exc)))
            raise EarlyFailure(error) from None
        clean = False
        try:
            if upstream.status != 200:
                raise await self._refusal(upstream, model)
            clean = await self._pump(upstream, translator, emit)
        finally:
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
        error = map_upstream_error(UpstreamError("http", status=upstream.status, body=payload))
        retry_after = upstream.headers.get("Retry-After")
        if retry_after is not None and retry_after.isdigit():
            error = ResponsesError(
                error.status, error.message, error.type, error.code, error.param, int(retry_after)
            )
        self._log.info(
            "responses.upstream_refused",
            extra={"fields": {"model": model, "http": upstream.status, "error": error.message}},
        )
        return EarlyFailure(error)

    async def _first_read(
        self, content: aiohttp.StreamReader, translator: ResponsesStreamTranslator, emit: Emit
    ) -> bytes:
        """The first bytes; meanwhile, every ``keepalive_interval``, lifecycle events (the
        start, then ``response.in_progress``) so a long prefill does not look like a dead
        connection to a client's idle timeout."""
        interval = self._keepalive_interval
        while interval is not None:
            timer = asyncio.timeout(interval)
            try:
                async with timer:
                    return await content.readany()
            except TimeoutError:
                if not timer.expired():
                    raise  # aiohttp's own read timeout: the server went silent
            await emit(translator.keepalive())
        return await content.readany()

    async def _pump(
        self,
        upstream: aiohttp.ClientResponse,
        translator: ResponsesStreamTranslator,
        emit: Emit,
    ) -> bool:
        """Relay until the response ends; True when the upstream response was read to its
        end (the connection can be reused)."""
        decoder = SSEDecoder()
        content = upstream.content
        failure: UpstreamError | None = None
        done = False
        first = True
        while not done:
            try:
                if first:
                    data = await self._first_read(content, translator, emit)
                    first = False
                else:
                    data = await content.readany()
            except aiohttp.ServerTimeoutError:
                failure = UpstreamError("timeout")
                break
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                # After finish_reason only the usage chunk is missing: end the response with
                # the running usage rather than fail a complete answer.
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
                    if text[:1].isspace():
                        text = text.lstrip()
                    chunk, end = _raw_decode(text)
                    if end != len(text) and not text[end:].isspace():
                        chunk = None
                except ValueError:  # JSON or UTF-8 errors
                    chunk = None
                if not isinstance(chunk, dict):
                    detail = payload[:120].decode("utf-8", "replace")
                    failure = UpstreamError("protocol", detail=detail)
                    break
                events += translator.feed(chunk)
            if events:
                await emit(events)
            if failure is not None or (translator.finished and not done):
                break  # ended (completed or failed): what could follow is only [DONE]
        if failure is not None:
            self._metrics.upstream_errors.labels(model=self._model, kind="disconnect").inc()
            self._log.warning(
                "responses.upstream_dropped",
                extra={
                    "fields": {"model": self._model, "kind": failure.kind, "error": failure.detail}
                },
            )
            if not translator.started:
                raise EarlyFailure(map_upstream_error(failure))
        tail = translator.close(failure)
        if tail:
            await emit(tail)
        return done
