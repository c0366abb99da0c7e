"""The upstream side of a translated request, shared by the translating surfaces.

One request against a leased model server: ``max_tokens`` fitted to the context that is left
(``_fit_to_context``), the chat body POSTed, and vLLM's SSE stream read chunk by chunk into the
surface's sans-IO translator (chatstream.py), whose events go to ``emit`` one network read at
a time. Upstream always streams, whatever the client asked, so a long non-streamed generation
never trips the upstream read timeout.

A surface subclasses ``ChatRelay`` for what is its own: its request type and how it fits,
the translator's keep-alive while the first token is awaited, and how a failure before the
first event becomes the exception its handler answers with an HTTP error (its envelope).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import aiohttp

from autosred.proxy.chatstream import ChatStreamTranslator
from autosred.proxy.context import ProxyContext
from autosred.proxy.fastjson import parse_chunk
from autosred.proxy.prompt import (
    clamp_max_tokens,
    estimate_prompt_tokens,
    prompt_tokens_ceiling,
    tokenize_body,
)
from autosred.proxy.sse import SSEDecoder
from autosred.proxy.upstream import UPSTREAM_CONNECT_ERRORS, UpstreamError, encode_body
from autosred.scaler import Backend

EventT = TypeVar("EventT")
START_GRACE = 0.05
"""Seconds a stream's opening events wait for the model server's first chunk once it answered
200: an answer already on its way opens with the server's own prompt count (case 16); a long
prefill gets the opening at once, with an estimate (case 24). Far below anything a person or a
client timeout notices."""


@dataclass(frozen=True, slots=True)
class ContextFit:
    """The output allowance of a request that might not fit the context, and why."""

    max_tokens: int
    """What the upstream request may ask for (never above what the client asked)."""
    prompt_tokens: int
    """The prompt size it was decided on: exact when ``counted``, else the high estimate."""
    max_model_len: int
    counted: bool
    """Whether ``prompt_tokens`` is the model server's own count (``/tokenize``)."""


class ChatRelay(ABC, Generic[EventT]):
    """The upstream side of one translated request (create one per request)."""

    surface: ClassVar[str]
    """Names the log events (``<surface>.upstream_unreachable`` …)."""
    _UNSTARTED_FAILURE_IS_EARLY: ClassVar[bool] = False
    """Whether a stream that breaks before its translator started is answered as an HTTP error
    (``_early``) rather than with the translator's failure events."""

    def __init__(
        self,
        *,
        ctx: ProxyContext,
        request_id: str,
        priority: int | None,
        keepalive_interval: float | None,
    ) -> None:
        self._info = ctx.model_info
        self._session = ctx.upstream
        self._metrics = ctx.metrics
        self._log = ctx.log
        self._request_id = request_id
        self._priority = priority
        self._keepalive_interval = keepalive_interval
        self._model = "-"

    # ---------------------------------------------------------------------------- the surface

    @abstractmethod
    def _early(self, error: UpstreamError) -> Exception:
        """What the handler answers for a failure before the client got any event: no
        connection (and, where ``_UNSTARTED_FAILURE_IS_EARLY``, a stream that broke before its
        translator started)."""

    @abstractmethod
    def _refused(self, error: UpstreamError, retry_after: str | None) -> Exception:
        """The same for a server that answered with an error status: ``error`` carries the
        status and body, ``retry_after`` the server's header. Logs it (``_log_refused``)."""

    def _log_refused(self, status: int | None, message: str) -> None:
        self._log.info(
            f"{self.surface}.upstream_refused",
            extra={"fields": {"model": self._model, "http": status, "error": message}},
        )

    # ---------------------------------------------------------------------------- request

    async def _fit_to_context(
        self, backend: Backend, *, requested: int, body: dict[str, Any], wire: bytes
    ) -> ContextFit | None:
        """How much output the chat ``body`` (serialised: ``wire``) may ask for; None when
        ``requested`` fits.

        Cheapest first: a byte bound, then the estimate (both err high), and only a request
        that might not fit pays for an exact count (one /tokenize round trip).
        """
        limit = await self._info.max_model_len(self._session, backend)
        if limit is None or requested + prompt_tokens_ceiling(wire) <= limit:
            return None
        estimate = estimate_prompt_tokens(body)
        if requested + estimate <= limit:
            return None
        tokenize = encode_body(tokenize_body(body))
        counted = await self._info.count_tokens(self._session, backend, tokenize)
        prompt = estimate
        if counted is not None:
            prompt = counted.count
            limit = counted.max_model_len or limit
        allowed = clamp_max_tokens(requested, prompt, limit)
        return ContextFit(allowed, prompt, limit, counted=counted is not None)

    async def _relay(
        self,
        backend: Backend,
        wire: bytes,
        translator: ChatStreamTranslator[EventT, Any, Any],
        emit: Callable[[list[EventT]], Awaitable[None]],
        keepalive: Callable[[], list[EventT]],
    ) -> None:
        """POST the chat body ``wire`` and ``emit`` every translated event until the output
        ends; ``keepalive`` gives the events that show life while the first byte is awaited."""
        model = self._model = backend.recipe.name
        try:
            upstream = await self._session.post(
                backend.url / "v1" / "chat" / "completions",
                data=wire,
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
                f"{self.surface}.upstream_unreachable",
                extra={"fields": {"model": model, "error": str(exc)}},
            )
            raise self._early(UpstreamError("connect", detail=str(exc))) from None
        clean = False
        try:
            if upstream.status != 200:
                self._metrics.upstream_errors.labels(model=model, kind="status").inc()
                try:
                    payload: bytes = await upstream.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    payload = str(exc).encode()
                error = UpstreamError("http", status=upstream.status, body=payload)
                raise self._refused(error, upstream.headers.get("Retry-After"))
            clean = await self._pump(upstream.content, translator, emit, keepalive)
        finally:
            if clean:
                upstream.release()
            else:
                # Closing the connection is how vLLM learns to abort the generation and free
                # its KV cache (client gone, stream broken, or not worth reading to the end).
                upstream.close()

    # ---------------------------------------------------------------------------- stream

    async def _first_read(
        self,
        content: aiohttp.StreamReader,
        emit: Callable[[list[EventT]], Awaitable[None]],
        keepalive: Callable[[], list[EventT]],
    ) -> bytes:
        """The first bytes. A streaming client does not wait for them: unless they come within
        ``START_GRACE``, the first keep-alive (the stream's opening events) goes out then, and
        another every ``keepalive_interval``, so a long prefill never looks like a dead
        connection (case 24)."""
        interval = self._keepalive_interval
        wait = START_GRACE
        while interval is not None:
            timer = asyncio.timeout(wait)
            try:
                async with timer:
                    return await content.readany()
            except TimeoutError:
                if not timer.expired():
                    raise  # aiohttp's own read timeout: the server went silent
            await emit(keepalive())
            wait = interval
        return await content.readany()

    async def _pump(
        self,
        content: aiohttp.StreamReader,
        translator: ChatStreamTranslator[EventT, Any, Any],
        emit: Callable[[list[EventT]], Awaitable[None]],
        keepalive: Callable[[], list[EventT]],
    ) -> bool:
        """Relay until the output ends; True when the upstream response was read to its end
        (the connection can be reused)."""
        decoder = SSEDecoder()
        failure: UpstreamError | None = None
        done = False
        first = True
        while not done:
            try:
                if first:
                    data = await self._first_read(content, emit, keepalive)
                    first = False
                else:
                    data = await content.readany()
            except aiohttp.ServerTimeoutError:
                failure = UpstreamError("timeout")
                break
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                # After finish_reason only the usage chunk is missing: end the output with the
                # running usage rather than fail a complete answer.
                if not translator.finishing:
                    failure = UpstreamError("closed", detail=str(exc))
                break
            if not data:
                break
            events: list[EventT] = []
            for payload in decoder.feed(data):
                if payload == b"[DONE]":
                    done = True
                    break
                chunk = parse_chunk(payload)
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
                f"{self.surface}.upstream_dropped",
                extra={
                    "fields": {"model": self._model, "kind": failure.kind, "error": failure.detail}
                },
            )
            if self._UNSTARTED_FAILURE_IS_EARLY and not translator.started:
                raise self._early(failure)
        tail = translator.close(failure)
        if tail:
            await emit(tail)
        return done
