"""What a model server says about itself: its context length, and exact prompt token counts.

The context length (``max_model_len``) lets a surface clamp ``max_tokens`` before vLLM rejects
the request. A recipe may state it; otherwise it is read from the server's ``GET /v1/models``
once per endpoint (a wake may bring the server up elsewhere, with other arguments) and kept, so
requests never pay a round trip for it. Token counts come from vLLM's ``POST /tokenize``, which
renders the same chat template as generation; a server without it is remembered as such.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from autosred.proxy.upstream import UPSTREAM_CONNECT_ERRORS
from autosred.scaler import Backend

_RETRY_FAILED_FETCH = 30.0  # seconds before a failed /v1/models read is tried again
_FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10)
_TOKENIZE_TIMEOUT = aiohttp.ClientTimeout(total=60)  # a 200k-token prompt takes a while
_MAX_ENDPOINTS = 256  # process engines move to a new port per wake; forget old ones
_NOT_SERVED = frozenset({404, 405, 501})


@dataclass(frozen=True, slots=True)
class TokenCount:
    count: int
    max_model_len: int | None


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


class ModelInfo:
    """Per-endpoint facts about model servers, shared by the surfaces of one api app."""

    def __init__(self, *, log: logging.Logger) -> None:
        self._log = log
        self._max_len: dict[tuple[str, str], int | None] = {}
        self._retry_at: dict[tuple[str, str], float] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[int | None]] = {}
        self._no_tokenize: set[str] = set()

    @staticmethod
    def _key(backend: Backend) -> tuple[str, str]:
        return str(backend.url), backend.recipe.served_model_name

    async def max_model_len(self, session: aiohttp.ClientSession, backend: Backend) -> int | None:
        """The recipe's ``max_model_len``, else the server's (None when it does not say)."""
        if backend.recipe.max_model_len is not None:
            return backend.recipe.max_model_len
        key = self._key(backend)
        if key in self._max_len:
            return self._max_len[key]
        loop = asyncio.get_running_loop()
        if self._retry_at.get(key, 0.0) > loop.time():
            return None
        task = self._pending.get(key)
        if task is None:
            # One fetch per endpoint, however many requests arrive together after a wake.
            task = asyncio.create_task(self._fetch(session, backend, key))
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        # shield: a client hanging up must not cancel the fetch others are waiting for.
        return await asyncio.shield(task)

    async def _fetch(
        self, session: aiohttp.ClientSession, backend: Backend, key: tuple[str, str]
    ) -> int | None:
        try:
            async with session.get(backend.url / "v1" / "models", timeout=_FETCH_TIMEOUT) as resp:
                data: Any = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._retry_at[key] = asyncio.get_running_loop().time() + _RETRY_FAILED_FETCH
            self._log.warning(
                "proxy.models_unreadable",
                extra={"fields": {"model": backend.recipe.name, "error": str(exc) or repr(exc)}},
            )
            return None
        cards = data.get("data") if isinstance(data, dict) else None
        found: int | None = None
        if isinstance(cards, list):
            for card in cards:
                if not isinstance(card, dict):
                    continue
                if card.get("id") == key[1] or len(cards) == 1:
                    found = _positive_int(card.get("max_model_len"))
                    break
        # Remembered even when absent: a server that does not say will not say next time.
        self._remember(key, found)
        self._log.info(
            "proxy.max_model_len",
            extra={"fields": {"model": backend.recipe.name, "max_model_len": found}},
        )
        return found

    def _remember(self, key: tuple[str, str], max_model_len: int | None) -> None:
        if len(self._max_len) >= _MAX_ENDPOINTS:
            self._max_len.clear()
            self._retry_at.clear()
        self._max_len[key] = max_model_len

    async def count_tokens(
        self, session: aiohttp.ClientSession, backend: Backend, body: bytes
    ) -> TokenCount | None:
        """vLLM ``/tokenize`` of ``body`` (a TokenizeChatRequest), or None when it cannot say
        (the caller estimates). The context length it reports is remembered too."""
        endpoint = str(backend.url)
        if endpoint in self._no_tokenize:
            return None
        fields = {"model": backend.recipe.name}
        try:
            async with session.post(
                backend.url / "tokenize",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=_TOKENIZE_TIMEOUT,
            ) as resp:
                if resp.status in _NOT_SERVED:
                    if len(self._no_tokenize) >= _MAX_ENDPOINTS:
                        self._no_tokenize.clear()
                    self._no_tokenize.add(endpoint)
                    self._log.warning(
                        "proxy.tokenize_unavailable",
                        extra={"fields": {**fields, "http": resp.status}},
                    )
                    return None
                if resp.status != 200:
                    text = (await resp.read())[:300].decode("utf-8", "replace")
                    self._log.warning(
                        "proxy.tokenize_failed",
                        extra={"fields": {**fields, "http": resp.status, "error": text}},
                    )
                    return None
                data: Any = json.loads(await resp.read())
        except UPSTREAM_CONNECT_ERRORS as exc:
            backend.report_unreachable()
            self._log.warning(
                "proxy.tokenize_failed", extra={"fields": {**fields, "error": str(exc)}}
            )
            return None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._log.warning(
                "proxy.tokenize_failed",
                extra={"fields": {**fields, "error": str(exc) or repr(exc)}},
            )
            return None
        count = data.get("count") if isinstance(data, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            self._log.warning(
                "proxy.tokenize_failed", extra={"fields": {**fields, "error": "no count"}}
            )
            return None
        max_len = _positive_int(data.get("max_model_len"))
        if max_len is not None and backend.recipe.max_model_len is None:
            self._remember(self._key(backend), max_len)
        return TokenCount(count, backend.recipe.max_model_len or max_len)
