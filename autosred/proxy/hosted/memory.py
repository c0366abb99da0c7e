"""What the daemon remembers of its hosted searches: bounded, in memory, least recently used.

Two facts, both kept here so one bound covers them:

* ``results``: the text the model read for a search, by the id of the item that showed it to
  the client (``ws_…`` on /v1/responses). Codex sends its ``web_search_call`` items back with
  the history, but only the id, status and action (the query) survive its parser: the text of
  the results has to come from here for the replayed conversation to read as the model saw it
  (and for vLLM's prefix cache to keep matching).
* ``recent``: the hits of the live searches a client made, by client, country and query, so
  a search that may not reach the web (``external_web_access: false``) can be answered from
  earlier results. Keyed by client: one client never reads what another searched for.

Lost on restart, like the response store: a replayed search whose text is gone tells the
model so (with its query), and an offline search finds nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from autosred.proxy.hosted.web import WebHit

DEFAULT_MAX_ENTRIES = 4096
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RememberedResult:
    call_id: str
    """The model's call id (upstream), so the replayed call reads as it was."""
    arguments: str
    """The model's arguments, as it wrote them."""
    text: str
    """What the model read (the tool message)."""


def query_key(client: str, country: str | None, query: str) -> tuple[str, str, str]:
    """The key of a search: the same words in any case and spacing are one search."""
    return (client, (country or "").upper(), " ".join(query.casefold().split()))


def _hits_size(hits: tuple[WebHit, ...]) -> int:
    return sum(len(h.title) + len(h.url) + len(h.snippet) + len(h.page_age or "") for h in hits)


class SearchMemory:
    """Results by item id and recent hits by query (see the module's docstring)."""

    def __init__(
        self, *, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._results: OrderedDict[str, tuple[RememberedResult, int]] = OrderedDict()
        self._recent: OrderedDict[tuple[str, str, str], tuple[tuple[WebHit, ...], int]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._results) + len(self._recent)

    def keep_result(self, item_id: str, result: RememberedResult) -> None:
        size = len(item_id) + len(result.call_id) + len(result.arguments) + len(result.text)
        old = self._results.pop(item_id, None)
        if old is not None:
            self.bytes -= old[1]
        if size > self.max_bytes:
            return
        self._results[item_id] = (result, size)
        self.bytes += size
        self._evict()

    def result(self, item_id: object) -> RememberedResult | None:
        if not isinstance(item_id, str):
            return None
        entry = self._results.get(item_id)
        if entry is None:
            return None
        self._results.move_to_end(item_id)
        return entry[0]

    def keep_hits(self, key: tuple[str, str, str], hits: tuple[WebHit, ...]) -> None:
        size = sum(len(part) for part in key) + _hits_size(hits)
        old = self._recent.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        if size > self.max_bytes:
            return
        self._recent[key] = (hits, size)
        self.bytes += size
        self._evict()

    def hits(self, key: tuple[str, str, str]) -> tuple[WebHit, ...] | None:
        entry = self._recent.get(key)
        if entry is None:
            return None
        self._recent.move_to_end(key)
        return entry[0]

    def _evict(self) -> None:
        # The larger map gives up its oldest entry: replays and offline answers both keep
        # their most recent share.
        while len(self) > self.max_entries or self.bytes > self.max_bytes:
            size: int
            if self._results and len(self._results) >= len(self._recent):
                _, (_, size) = self._results.popitem(last=False)
            else:
                _, (_, size) = self._recent.popitem(last=False)
            self.bytes -= size
