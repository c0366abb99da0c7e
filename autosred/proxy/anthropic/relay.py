"""One Messages request against a leased model server: fit, send, translate, relay.

Both client modes stream from vLLM (the shared ChatRelay, proxy/relay.py). A streaming client
gets every translated event as soon as it exists; a non-streaming one gets the same events
accumulated into one Message. So the two modes give the same content (docs/conformance.md, case 26),
usage is read in one place, and a long non-streamed generation never trips the upstream read timeout
(vLLM says nothing until it is done).

A failure before any event reached the client raises ``EarlyFailure`` (the handler answers
with an HTTP error); after that it is an ``error`` event in the stream, never a made-up
``end_turn`` (docs/conformance.md, case 22).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from autosred.proxy.anthropic.errors import AnthropicError, map_upstream_error
from autosred.proxy.anthropic.events import Event
from autosred.proxy.anthropic.request import ChatRequest, serialise
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.stream import MessageStreamTranslator
from autosred.proxy.context import ProxyContext
from autosred.proxy.prompt import estimate_prompt_tokens
from autosred.proxy.relay import ChatRelay
from autosred.proxy.upstream import UNREACHABLE_RETRY_AFTER, UpstreamError
from autosred.scaler import Backend

Emit = Callable[[list[Event]], Awaitable[None]]
STREAM_OPTIONS = {"include_usage": True, "continuous_usage_stats": True}
"""As the translator needs them: the prompt size in the first chunk, the usage at the end."""


class EarlyFailure(Exception):
    """The request failed before the client got any event: answer with an HTTP error."""

    def __init__(self, error: AnthropicError, *, retry_after: str | int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class MessageRelay(ChatRelay[Event]):
    """The upstream side of one ``/v1/messages`` request (create one per request)."""

    surface = "anthropic"

    def __init__(
        self,
        *,
        chat: ChatRequest,
        signer: ThinkingSigner,
        ctx: ProxyContext,
        request_id: str,
        priority: int | None,
        ping_interval: float | None,
    ) -> None:
        super().__init__(
            ctx=ctx, request_id=request_id, priority=priority, keepalive_interval=ping_interval
        )
        self.chat = chat
        self._signer = signer
        self._prompt_tokens: int | None = None  # exact, when /tokenize was asked
        self.usage: dict[str, Any] | None = None
        """The final ``message_delta`` usage, once the message is complete."""
        self.anomalies: list[str] = []

    # ------------------------------------------------------------------------------ request

    async def _fit(self, backend: Backend) -> ChatRequest:
        """The upstream request: max_tokens clamped to the context left, priority added."""
        chat = self.chat
        requested = chat.max_tokens
        if requested is not None:
            fit = await self._fit_to_context(
                backend, requested=requested, body=chat.body, wire=serialise(chat)
            )
            if fit is not None:
                if fit.counted:
                    self._prompt_tokens = fit.prompt_tokens
                if fit.max_tokens < requested:
                    self._log.debug(
                        "anthropic.max_tokens_clamped",
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
                    chat = chat.with_max_tokens(fit.max_tokens)
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
        self.anomalies = translator.anomalies

        async def emit_noting_usage(events: list[Event]) -> None:
            if events[-1].type == "message_stop" and len(events) >= 2:
                self.usage = events[-2].data.get("usage")
            await emit(events)

        def ping() -> list[Event]:
            # A ping before the first chunk is message_start first (docs/conformance.md, case 24):
            # give it the prompt size, estimated unless /tokenize already counted it.
            if self._prompt_tokens is None:
                translator.expect_input_tokens(estimate_prompt_tokens(self.chat.body))
            return translator.ping()

        await self._relay(backend, serialise(chat), translator, emit_noting_usage, ping)

    def _early(self, error: UpstreamError) -> EarlyFailure:
        return EarlyFailure(map_upstream_error(error), retry_after=UNREACHABLE_RETRY_AFTER)

    def _refused(self, error: UpstreamError, retry_after: str | None) -> EarlyFailure:
        mapped = map_upstream_error(error, requested_max_tokens=self.chat.max_tokens)
        self._log_refused(error.status, mapped.message)
        if retry_after is None and mapped.type == "overloaded_error":
            retry_after = str(UNREACHABLE_RETRY_AFTER)
        return EarlyFailure(mapped, retry_after=retry_after)
