"""Stored responses for ``previous_response_id``: bounded, in memory, LRU (docs/conformance.md,
case 79).

A response is stored when its request did not say ``store: false`` (Codex always does, and
replays its whole history instead). An entry is the conversation the response continued
(earlier entries' items included) plus its own output, so a follow-up needs one lookup and an
evicted ancestor never breaks a chain. Entries are bounded by count and by an estimate of
their bytes that counts every entry's full conversation (items shared between entries are
counted once per entry: the bound errs high). Lost on restart, like any cache.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_RESPONSES = 1024
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredResponse:
    items: tuple[Any, ...]
    """The conversation of this response, ready to continue: input items then output items."""
    size: int
    """Estimated bytes of ``items``."""


class ResponseStore:
    """Response id -> StoredResponse; least recently used entries go first."""

    def __init__(
        self, *, max_responses: int = DEFAULT_MAX_RESPONSES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.max_responses = max_responses
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, response_id: object) -> bool:
        return response_id in self._entries

    def get(self, response_id: str) -> StoredResponse | None:
        entry = self._entries.get(response_id)
        if entry is not None:
            self._entries.move_to_end(response_id)
        return entry

    def put(self, response_id: str, items: list[Any], size: int) -> bool:
        """Store; False when the entry alone is over the byte bound (not stored)."""
        if size > self.max_bytes or self.max_responses <= 0:
            return False
        old = self._entries.pop(response_id, None)
        if old is not None:
            self.bytes -= old.size
        self._entries[response_id] = StoredResponse(tuple(items), size)
        self.bytes += size
        while len(self._entries) > self.max_responses or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
        return True
