"""The request flow: one function serves a request on every surface.

    read -> resolve -> prepare (the surface) -> lease -> relay -> respond -> record

``serve`` reads the JSON body, resolves its model to a recipe, has the surface prepare its
call, leases the model server through the gate (which wakes it, and counts the request as in
flight until its last byte), relays the upstream answer, answers the client and records one
``Outcome`` on the request's ``Exchange`` (metrics, logs and the surface's own observers).

A surface is a small adapter (``Surface``): which model a body names, how its failures read in
its own envelope, and ``prepare``, which makes the call: a ``TranslatedCall`` (a chat body for
the model server and the translator that turns its stream into the surface's events) or a
``BytesCall`` (the OpenAI pass-through: the body relayed and the answer returned untranslated).

Failures, the same on every surface: one the client hears before its 200 is an HTTP error in
the surface's envelope; after the 200 (keep-alive comments during a wake, or events) it is the
surface's failure event in the stream (recorded ``stream_error``). A client that hangs up is
recorded ``CLIENT_CLOSED``; the upstream request is closed, which makes the model server stop.
When the daemon stops while a stream still runs (aiohttp cancels the handler once the shutdown
grace is over), the stream ends with its failure event rather than a cut connection.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

from autosred.proxy.body import BadRequest, read_json_object
from autosred.proxy.chatstream import ChatStreamTranslator
from autosred.proxy.context import CLIENT_NAME_KEY, PROXY, ProxyContext, request_id
from autosred.proxy.exchange import Exchange
from autosred.proxy.outcome import CLIENT_CLOSED, STREAM_ERROR, Outcome, SurfaceError
from autosred.proxy.relay import UpstreamCall, fit_to_context
from autosred.proxy.sse import EventStream
from autosred.proxy.upstream import UNREACHABLE_RETRY_AFTER, UpstreamError, encode_body
from autosred.recipes import Recipe
from autosred.scaler import Backend, ModelUnavailable, UnknownModel

EventT = TypeVar("EventT")
ResultT = TypeVar("ResultT")
CallT = TypeVar("CallT", bound="TranslatedCall[Any] | BytesCall")

Failure = BadRequest | UnknownModel | ModelUnavailable | UpstreamError
"""What goes wrong outside a surface's own rules; each surface says it in its envelope."""

SHUTDOWN_WRITE_TIMEOUT = 1.0
"""Seconds a stream cut by the daemon's shutdown may take to write its failure event."""
SHUTTING_DOWN = ModelUnavailable(
    "the daemon is shutting down", retry_after=UNREACHABLE_RETRY_AFTER, kind="shutting_down"
)


class HostedRounds(Protocol[EventT]):
    """A translated answer the daemon continues after running hosted tools the model called
    (proxy/hosted/): another upstream request under the same lease, into the same answer."""

    def pending(self) -> bool:
        """Whether the round just read ended on hosted calls the daemon has to run."""
        ...

    async def step(self) -> tuple[list[EventT], dict[str, Any] | None]:
        """Run them: (their events, the next upstream body), or (the events, which end the
        answer, None)."""
        ...


@dataclass(slots=True)
class TranslatedCall(Generic[EventT]):
    """A request a translator answers from the model server's chat completion stream."""

    stream: bool
    """Whether the client asked for a stream (upstream always streams)."""
    body: dict[str, Any]
    """The upstream /v1/chat/completions body (streaming)."""
    wire: bytes
    """``body`` serialised."""
    max_tokens: int | None
    """The output the client asked for, fitted to the context left before the call."""
    priority: int | None
    """vLLM's scheduling priority from the recipe's rules (added to the body)."""
    translator: ChatStreamTranslator[EventT, Any, Any]
    encode: Callable[[list[EventT]], bytes]
    """Events as SSE bytes."""
    answer: Callable[[list[EventT]], web.Response]
    """The non-streamed answer of a completed translation (all its events)."""
    local_events: list[EventT] | None = None
    """Answered without the model (a probe): the translator's whole, ended stream."""
    rounds: HostedRounds[EventT] | None = None
    """Hosted tools the daemon runs for this request, when the client offered any."""


@dataclass(frozen=True, slots=True)
class BytesCall:
    """A request relayed as it is, its answer returned byte for byte."""

    path: str
    wire: bytes
    stream: bool


class Surface(ABC, Generic[CallT]):
    """A surface's adapter to the request flow."""

    api: str
    """The surface's name in metrics and log events (``anthropic``, ``responses``, …)."""

    @abstractmethod
    def model_of(self, body: dict[str, Any]) -> str:
        """The model name the body asks for; BadRequest or the surface's error otherwise."""

    @abstractmethod
    def error(self, failure: Failure, call: CallT | None = None) -> SurfaceError:
        """``failure`` (of ``call``, once there is one) in the surface's envelope."""

    @abstractmethod
    def prepare(
        self,
        request: web.Request,
        body: dict[str, Any],
        raw: bytes,
        recipe: Recipe,
        exchange: Exchange,
    ) -> CallT:
        """The call for this request (the surface's error if it cannot be served as sent);
        may add observers to ``exchange``."""


async def serve(request: web.Request, surface: Surface[Any]) -> web.StreamResponse:
    """Serve ``request`` on ``surface``: see the module's docstring."""
    ctx = request.app[PROXY]
    exchange = Exchange(
        metrics=ctx.metrics,
        log=ctx.log,
        api=surface.api,
        request_id=request_id(request),
        client=request.get(CLIENT_NAME_KEY, "-"),
    )
    ctx.requests.observe(exchange)
    try:
        try:
            body, raw = await read_json_object(request)
            recipe = ctx.gate.resolve(surface.model_of(body))
        except (BadRequest, UnknownModel) as exc:
            raise surface.error(exc) from None
        exchange.model = recipe.name
        call = surface.prepare(request, body, raw, recipe, exchange)
    except SurfaceError as exc:
        exchange.finish(Outcome(exc.status, error=str(exc)))
        return exc.response(exchange.request_id)
    flow = _Flow(request, ctx, surface, exchange, recipe)
    if isinstance(call, BytesCall):
        return await flow.run(call, flow.relay_bytes)
    return await flow.run(call, flow.relay_translated)


def _no_events(events: list[Any]) -> bytes:
    raise AssertionError("the pass-through relays bytes, not events")


class _Flow:
    """One request from its lease to its recorded outcome."""

    def __init__(
        self,
        request: web.Request,
        ctx: ProxyContext,
        surface: Surface[Any],
        exchange: Exchange,
        recipe: Recipe,
    ) -> None:
        self.request = request
        self.ctx = ctx
        self.surface = surface
        self.exchange = exchange
        self.recipe = recipe
        self.stream: EventStream[Any] = EventStream(request, exchange, _no_events)
        self.outcome: Outcome | None = None
        self.reply: web.StreamResponse | None = None
        """The answer, when it is not ``stream.response`` (an HTTP error, a JSON body)."""

    # ------------------------------------------------------------------------------ the run

    async def run(self, call: Any, relay: Callable[[Any, Backend], Any]) -> web.StreamResponse:
        if isinstance(call, TranslatedCall):
            self.stream = EventStream(self.request, self.exchange, call.encode)
        stream = self.stream
        try:
            if isinstance(call, TranslatedCall) and call.local_events is not None:
                await self._answer_locally(call, call.local_events)
            else:
                # Only a streaming client can be kept alive in band; others wait silently.
                on_wait = stream.waking if call.stream else None
                try:
                    async with self.ctx.gate.lease(self.recipe.name, on_wait=on_wait) as backend:
                        await relay(call, backend)
                except (ModelUnavailable, UpstreamError) as exc:
                    await self._fail(call, self.surface.error(exc, call))
        except ConnectionError:
            self._finish(Outcome(CLIENT_CLOSED))  # a write found the client gone
        except asyncio.CancelledError:
            if self._client_gone():
                self._finish(Outcome(CLIENT_CLOSED))
            else:
                await self._end_at_shutdown(call)
            raise
        finally:
            if self.outcome is None:  # a bug: recorded as what the client will see
                self._finish(Outcome(500, error="the request flow ended without an outcome"))
        return self.reply if self.reply is not None else stream.response

    def _finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.exchange.finish(outcome)

    def _client_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def _fail(self, call: Any, error: SurfaceError) -> None:
        """End the request with ``error``: an HTTP error while the client has had nothing,
        else the surface's failure in the stream."""
        response = self.stream.response
        if not response.prepared:
            self.reply = error.response(self.exchange.request_id)
            self._finish(Outcome(error.status, error=str(error)))
            return
        await self.stream.end(self._in_band(call, error))
        self._finish(Outcome(STREAM_ERROR, error=str(error)))

    def _in_band(self, call: Any, error: SurfaceError) -> bytes:
        if isinstance(call, TranslatedCall):
            return call.encode(call.translator.close(error))
        in_band: Callable[[], bytes] | None = getattr(error, "in_band", None)
        return in_band() if in_band is not None else b""

    async def _end_at_shutdown(self, call: Any) -> None:
        """The daemon is stopping and this request outlived the grace: tell the client (best
        effort, briefly) instead of cutting the connection."""
        error = self.surface.error(SHUTTING_DOWN, call)
        response = self.stream.response
        status: int | str = STREAM_ERROR if response.prepared else error.status
        try:
            async with asyncio.timeout(SHUTDOWN_WRITE_TIMEOUT):
                if response.prepared:
                    await response.write_eof(self._in_band(call, error))
                else:
                    answer = error.response(self.exchange.request_id)
                    response.set_status(answer.status)
                    response.headers.update(answer.headers)
                    await response.prepare(self.request)
                    assert isinstance(answer.body, bytes)
                    await response.write_eof(answer.body)
        except (ConnectionError, TimeoutError, RuntimeError):
            pass  # the client is gone or too slow: nobody left to tell
        self._finish(Outcome(status, error=str(error)))

    # ------------------------------------------------------------------------------ translated

    async def relay_translated(self, call: TranslatedCall[Any], backend: Backend) -> None:
        translator = call.translator
        upstream_call = UpstreamCall(self.ctx, backend, self.surface.api, self.exchange.request_id)
        rounds = call.rounds
        stream = self.stream
        events: list[Any] | None = None if call.stream else []

        async def collect(more: list[Any]) -> None:
            assert events is not None
            events.extend(more)

        async def finish_round(more: list[Any]) -> None:
            # A round that ended on hosted calls leaves the client's stream open.
            if rounds is not None and rounds.pending():
                await stream.emit(more)
            else:
                await stream.finish(more)

        emit = stream.emit if call.stream else collect
        while True:
            wire = await self._fitted_wire(call, backend)
            upstream = await upstream_call.open("v1/chat/completions", wire)
            if call.stream:
                interval = self.ctx.keepalive_interval
                await upstream_call.relay_events(upstream, translator, emit, finish_round, interval)
            else:
                await upstream_call.relay_events(upstream, translator, collect, collect, None)
            if rounds is None or not rounds.pending():
                break
            more, body = await self._keeping_alive(rounds.step(), call)
            if body is None:
                await (stream.finish(more) if call.stream else collect(more))
                break
            await emit(more)
            call.body = body
            call.wire = encode_body(body)
        self._finish_translated(call, events)

    async def _keeping_alive(self, work: Awaitable[ResultT], call: TranslatedCall[Any]) -> ResultT:
        """``work`` (hosted tools running), with the translator's keep-alive events every
        interval meanwhile for a streaming client."""
        task = asyncio.ensure_future(work)
        try:
            while call.stream:
                done, _ = await asyncio.wait({task}, timeout=self.ctx.keepalive_interval)
                if done:
                    break
                await self.stream.emit(call.translator.keepalive())
            return await task
        finally:
            if not task.done():
                task.cancel()  # the client is gone or the daemon stops: the tools stop too

    def _finish_translated(
        self, call: TranslatedCall[Any], events: list[Any] | None = None
    ) -> None:
        outcome = call.translator.outcome
        anomalies = tuple(call.translator.anomalies)
        error = outcome.error
        if error is None:
            if events is not None:
                self.reply = call.answer(events)
            self._finish(Outcome(200, usage=outcome.usage, anomalies=anomalies))
        elif events is None:  # the failure went out in the stream
            self._finish(Outcome(STREAM_ERROR, error=str(error), anomalies=anomalies))
        else:
            assert isinstance(error, SurfaceError)
            self.reply = error.response(self.exchange.request_id)
            self._finish(Outcome(error.status, error=str(error), anomalies=anomalies))

    async def _fitted_wire(self, call: TranslatedCall[Any], backend: Backend) -> bytes:
        """The upstream body: ``max_tokens`` fitted to the context left, the priority added."""
        fields: dict[str, Any] = {}
        requested = call.max_tokens
        if requested is not None:
            fit = await fit_to_context(
                self.ctx, backend, requested=requested, body=call.body, wire=call.wire
            )
            if fit is not None:
                if fit.counted:
                    call.translator.expect_input_tokens(fit.prompt_tokens)
                if fit.max_tokens < requested:
                    fields["max_tokens"] = fit.max_tokens
                    self.ctx.log.debug(
                        f"{self.surface.api}.max_tokens_clamped",
                        extra={
                            "fields": {
                                "model": backend.recipe.name,
                                "requested": requested,
                                "allowed": fit.max_tokens,
                                "prompt_tokens": fit.prompt_tokens,
                                "max_model_len": fit.max_model_len,
                            }
                        },
                    )
        if call.priority is not None:
            fields["priority"] = call.priority
        return encode_body({**call.body, **fields}) if fields else call.wire

    async def _answer_locally(self, call: TranslatedCall[Any], events: list[Any]) -> None:
        """A call the surface answered without the model: ``events`` are its whole stream."""
        if call.stream:
            await self.stream.finish(events)
            self._finish_translated(call)
        else:
            self._finish_translated(call, events)

    # ------------------------------------------------------------------------------ bytes

    async def relay_bytes(self, call: BytesCall, backend: Backend) -> None:
        upstream_call = UpstreamCall(self.ctx, backend, self.surface.api, self.exchange.request_id)
        upstream = await upstream_call.open(call.path, call.wire)
        stream = self.stream
        content_type = upstream.headers.get("Content-Type")
        keepalive = None
        if call.stream and (content_type or "").startswith("text/event-stream"):
            keepalive = stream.keepalive_comment
        try:
            await stream.open(content_type)
        except BaseException:
            upstream.close()  # the client is gone or the daemon stops: so does the generation
            raise
        await upstream_call.relay_bytes(upstream, stream, keepalive, self.ctx.keepalive_interval)
        self._finish(Outcome(200))
