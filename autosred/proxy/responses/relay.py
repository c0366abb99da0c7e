"""One Responses request against a leased model server: fit, send, translate, relay.

Upstream always streams, whatever the client asked (the shared ChatRelay, proxy/relay.py): a
streaming client gets every event as soon as it exists, a non-streaming one the response object
the same translator built (docs/conformance.md, case 83), so both modes give the same output and
usage, and a long non-streamed generation never trips the upstream read timeout.

A failure before any event was produced raises ``EarlyFailure`` (the handler answers with an
HTTP error in the OpenAI envelope); after that it is ``response.failed``
(docs/conformance.md, case 80).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from autosred.proxy.context import ProxyContext
from autosred.proxy.relay import ChatRelay
from autosred.proxy.responses.errors import ResponsesError, map_upstream_error
from autosred.proxy.responses.events import Event
from autosred.proxy.responses.request import ResponsesRequest, serialise
from autosred.proxy.responses.stream import ResponsesStreamTranslator
from autosred.proxy.upstream import UpstreamError
from autosred.scaler import Backend

Emit = Callable[[list[Event]], Awaitable[None]]


class EarlyFailure(Exception):
    """The request failed before the client got any event: answer with an HTTP error."""

    def __init__(self, error: ResponsesError) -> None:
        super().__init__(error.message)
        self.error = error


class ResponseRelay(ChatRelay[Event]):
    """The upstream side of one ``/v1/responses`` request (create one per request)."""

    surface = "responses"
    _UNSTARTED_FAILURE_IS_EARLY = True

    def __init__(
        self,
        *,
        request: ResponsesRequest,
        ctx: ProxyContext,
        request_id: str,
        priority: int | None,
        keepalive_interval: float | None,
    ) -> None:
        super().__init__(
            ctx=ctx,
            request_id=request_id,
            priority=priority,
            keepalive_interval=keepalive_interval,
        )
        self.request = request

    async def _fit(self, backend: Backend) -> ResponsesRequest:
        """The upstream request: max_tokens clamped to the context left, priority added."""
        request = self.request
        requested = request.max_output_tokens
        if requested is not None:
            fit = await self._fit_to_context(
                backend, requested=requested, body=request.body, wire=serialise(request)
            )
            if fit is not None and fit.max_tokens < requested:
                request = request.with_fields(max_tokens=fit.max_tokens)
        if self._priority is not None:
            request = request.with_fields(priority=self._priority)
        return request

    async def run(
        self, backend: Backend, translator: ResponsesStreamTranslator, emit: Emit
    ) -> None:
        """Send the request and ``emit`` every translated event until the response ends;
        while the first token is awaited, lifecycle events (the start, then
        ``response.in_progress``) keep the client's idle timeout from firing."""
        request = await self._fit(backend)
        await self._relay(backend, serialise(request), translator, emit, translator.keepalive)

    def _early(self, error: UpstreamError) -> EarlyFailure:
        return EarlyFailure(map_upstream_error(error))

    def _refused(self, error: UpstreamError, retry_after: str | None) -> EarlyFailure:
        mapped = map_upstream_error(error)
        if retry_after is not None and retry_after.isdigit():
            mapped = ResponsesError(
                mapped.status,
                mapped.message,
                mapped.type,
                mapped.code,
                mapped.param,
                int(retry_after),
            )
        self._log_refused(error.status, mapped.message)
        return EarlyFailure(mapped)
