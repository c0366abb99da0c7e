"""The upstream side of one request against a leased model server, for every surface.

``fit_to_context`` decides how much output a chat body may ask for; ``UpstreamCall`` POSTs the
body, and relays the answer: parsed chunk by chunk into a surface's sans-IO translator
(chatstream.py), whose events go to ``emit`` one network read at a time, or byte for byte (the
OpenAI pass-through). Translated requests always stream from the model server, whatever the
client asked, so a long non-streamed generation never trips the upstream read timeout.

Every failure talking to the server is one ``UpstreamError`` (proxy/upstream.py): raised when
the client has had nothing yet, so the request flow can still answer with an HTTP error; after
that, the translator ends the stream with its surface's failure events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

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
from autosred.proxy.streamclient import (
    UpstreamBroken,
    UpstreamResponse,
    UpstreamSilent,
    UpstreamUnreachable,
)
from autosred.proxy.upstream import UpstreamError, UpstreamFailure, encode_body, upstream_message
from autosred.scaler import Backend

EventT = TypeVar("EventT")
START_GRACE = 0.005
"""Seconds a stream's opening events wait for the model server's first chunk once it answered
200: a token already on its way (a cached prefix) goes out in the same write as the opening;
otherwise (a prefill) the opening goes out at once, before any token (docs/conformance.md,
case 24). Its ``input_tokens`` never come from that chunk: the server reports usage only at
the end (case 16)."""


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


async def fit_to_context(
    ctx: ProxyContext, backend: Backend, *, requested: int, body: dict[str, Any], wire: bytes
) -> ContextFit | None:
    """How much output the chat ``body`` (serialised: ``wire``) may ask for; None when
    ``requested`` fits.

    Cheapest first: a byte bound, then the estimate (both err high), and only a request that
    might not fit pays for an exact count (one /tokenize round trip).
    """
    info = ctx.model_info
    limit = await info.max_model_len(ctx.upstream, backend)
    if limit is None or requested + prompt_tokens_ceiling(wire) <= limit:
        return None
    estimate = estimate_prompt_tokens(body)
    if requested + estimate <= limit:
        return None
    tokenize = encode_body(tokenize_body(body))
    counted = await info.count_tokens(ctx.upstream, backend, tokenize)
    prompt = estimate
    if counted is not None:
        prompt = counted.count
        limit = counted.max_model_len or limit
    allowed = clamp_max_tokens(requested, prompt, limit)
    return ContextFit(allowed, prompt, limit, counted=counted is not None)


async def _first_read(
    content: UpstreamResponse,
    keepalive: Callable[[], Awaitable[None]],
    interval: float | None,
    grace: float,
) -> bytes:
    """The first bytes. A streaming client does not wait for them: unless they come within
    ``grace``, ``keepalive`` runs (first: the stream's opening), and again every ``interval``,
    so a long prefill never looks like a dead connection (docs/conformance.md, case 24)."""
    wait = grace
    while interval is not None:
        timer = asyncio.timeout(wait)
        try:
            async with timer:
                return await content.read()
        except TimeoutError:
            if not timer.expired():
                raise  # the read timeout: the server went silent
        await keepalive()
        wait = interval
    return await content.read()


async def _first_bytes(
    content: UpstreamResponse,
    flush_headers: Callable[[], Awaitable[None]],
    keepalive: Callable[[], Awaitable[None]] | None,
    interval: float | None,
) -> bytes:
    """The pass-through's first bytes: they carry the client's 200 when they come within
    ``START_GRACE``; otherwise the 200 goes out alone (as soon as the server answered it,
    give or take the grace), then ``keepalive`` every ``interval`` while they are awaited."""
    timer = asyncio.timeout(START_GRACE)
    try:
        async with timer:
            return await content.read()
    except TimeoutError:
        if not timer.expired():
            raise  # the read timeout: the server went silent
    await flush_headers()
    if keepalive is None:
        return await content.read()
    return await _first_read(content, keepalive, interval, interval or 0.0)


class BytesSink(Protocol):
    """Where the pass-through writes a server's answer (proxy/sse.py's ``EventStream``)."""

    async def flush_headers(self) -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def end(self, data: bytes) -> None:
        """Write the last ``data`` and end the answer."""


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One request's exchange with the model server ``backend`` (create one per request):
    failures are counted and logged under the surface's ``api`` name."""

    ctx: ProxyContext
    backend: Backend
    api: str
    request_id: str

    def _lost(self, kind: UpstreamFailure, detail: str = "") -> UpstreamError:
        """The server went silent or broke its answer: counted and logged; the error to
        raise."""
        failure = UpstreamError(kind, detail=detail)
        self._dropped(failure)
        return failure

    def _dropped(self, failure: UpstreamError) -> None:
        model = self.backend.recipe.name
        self.ctx.metrics.upstream_errors.labels(model=model, kind="disconnect").inc()
        self.ctx.log.warning(
            f"{self.api}.upstream_dropped",
            extra={"fields": {"model": model, "kind": failure.kind, "error": failure.detail}},
        )

    async def open(self, path: str, wire: bytes) -> UpstreamResponse:
        """POST ``wire`` to ``path``; the response once the server answered 200.

        UpstreamError (counted, logged) when it cannot be reached, stays silent or answers an
        error status.
        """
        ctx, backend = self.ctx, self.backend
        model = backend.recipe.name
        try:
            upstream = await ctx.stream_client.post(
                backend.url / path,
                wire,
                {
                    "Content-Type": "application/json",
                    # Relayed or parsed here: never compressed.
                    "Accept-Encoding": "identity",
                    "X-Request-Id": self.request_id,
                },
            )
        except UpstreamUnreachable as exc:
            backend.report_unreachable()
            ctx.metrics.upstream_errors.labels(model=model, kind="connect").inc()
            ctx.log.warning(
                f"{self.api}.upstream_unreachable",
                extra={"fields": {"model": model, "error": str(exc)}},
            )
            raise UpstreamError("connect", detail=str(exc)) from None
        except UpstreamSilent:
            raise self._lost("timeout") from None
        except UpstreamBroken as exc:
            raise self._lost("protocol", str(exc)) from None
        if upstream.status == 200:
            return upstream
        ctx.metrics.upstream_errors.labels(model=model, kind="status").inc()
        try:
            payload: bytes = await upstream.read_all()
        except (UpstreamSilent, UpstreamBroken) as exc:
            payload = str(exc).encode()
        finally:
            upstream.close()
        error = UpstreamError(
            "http",
            status=upstream.status,
            body=payload,
            retry_after=upstream.headers.get("Retry-After"),
        )
        ctx.log.info(
            f"{self.api}.upstream_refused",
            extra={
                "fields": {
                    "model": model,
                    "http": upstream.status,
                    "error": upstream_message(payload)[:300],
                }
            },
        )
        raise error

    async def relay_events(
        self,
        upstream: UpstreamResponse,
        translator: ChatStreamTranslator[EventT, Any, Any],
        emit: Callable[[list[EventT]], Awaitable[None]],
        finish: Callable[[list[EventT]], Awaitable[None]],
        keepalive_interval: float | None,
    ) -> None:
        """``emit`` every event ``translator`` makes of the server's stream until the output
        ends, the last ones through ``finish`` (which ends the client's stream with them, in
        the same write); while the first chunk is awaited, ``translator.keepalive()`` every
        ``keepalive_interval`` (None: the client waits silently)."""
        clean = False
        try:
            clean = await self._pump(upstream, translator, emit, finish, keepalive_interval)
        finally:
            if clean:
                upstream.release()
            else:
                # Closing the connection is how vLLM learns to abort the generation and free
                # its KV cache (client gone, stream broken, or not worth reading to the end).
                upstream.close()

    async def _pump(
        self,
        content: UpstreamResponse,
        translator: ChatStreamTranslator[EventT, Any, Any],
        emit: Callable[[list[EventT]], Awaitable[None]],
        finish: Callable[[list[EventT]], Awaitable[None]],
        keepalive_interval: float | None,
    ) -> bool:
        """Relay until the output ends; True when the upstream response was read to its end
        (the connection can be reused)."""

        async def keepalive() -> None:
            await emit(translator.keepalive())

        decoder = SSEDecoder()
        failure: UpstreamError | None = None
        done = False
        first = True
        last: list[EventT] = []  # the events of the read that ended the output
        while not done:
            try:
                if first:
                    data = await _first_read(content, keepalive, keepalive_interval, START_GRACE)
                    first = False
                else:
                    data = await content.read()
            except UpstreamSilent:
                failure = UpstreamError("timeout")
                break
            except UpstreamBroken as exc:
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
            if done or failure is not None or translator.finished:
                # Ended (completed or failed; what could follow is only [DONE]): these events
                # go out with the stream's end, in one write.
                last = events
                break
            if events:
                await emit(events)
        if failure is not None:
            self._dropped(failure)
            if not translator.started:
                raise failure  # nothing reached the client: the flow answers an HTTP error
        await finish(last + translator.close(failure))
        return done

    async def relay_bytes(
        self,
        upstream: UpstreamResponse,
        stream: BytesSink,
        keepalive: Callable[[], Awaitable[None]] | None,
        keepalive_interval: float | None,
    ) -> None:
        """Write the server's answer to ``stream`` as it comes, byte for byte, the last bytes
        with the stream's end when the server's end came in the same read; unless its first
        bytes come within ``START_GRACE``, the head goes out alone and, while they are
        awaited, ``keepalive`` every ``keepalive_interval``. UpstreamError when the server's
        answer broke off (the client has had some of it)."""
        clean = False
        try:
            data = await _first_bytes(upstream, stream.flush_headers, keepalive, keepalive_interval)
            while data and not upstream.at_eof():
                await stream.write(data)
                data = await upstream.read()
            await stream.end(data)
            clean = True
        except UpstreamSilent:
            raise self._lost("timeout") from None
        except UpstreamBroken as exc:
            raise self._lost("closed", str(exc)) from None
        finally:
            if clean:
                upstream.release()
            else:
                upstream.close()
