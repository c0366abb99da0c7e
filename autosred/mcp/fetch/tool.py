"""The ``fetch`` tool group: ``fetch(url, max_length=5000, start_index=0, raw=false)``.

One call: the daemon's :class:`~autosred.web.service.WebService` fetches the page (URL, SSRF
guard, robots.txt and one GET per hop, the body decoded, HTML made Markdown in a worker
process: ``autosred/web/fetch/``), and the slice the model asked for is returned with a note
saying where the next one starts (``pages.py``). Every failure is a tool error with the
sentence the fetch failed with, which the model can act on.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autosred.config import FetchSettings
from autosred.mcp.fetch.pages import page
from autosred.mcp.tools import ToolResult, ToolSpec, parse_arguments, schema_of
from autosred.web.fetch.failure import FetchFailure
from autosred.web.fetch.guard import Resolver, system_resolver
from autosred.web.service import WebService

log = logging.getLogger(__name__)

MAX_LENGTH_CAP = 1_000_000
KEPT_TEXTS = 32
KEPT_CHARS = 8_000_000
"""The texts kept for continuations hold at most this many characters in all."""
KEPT_SECONDS = 600.0

DESCRIPTION = """Fetch a URL from the internet and return its content: HTML pages as \
Markdown (main text, headings, code blocks, tables, links), JSON and plain text as they are.
Long content comes in pages of max_length characters; the answer says which start_index \
to pass next. raw=true returns the HTML as sent instead of Markdown. Only public http(s) \
addresses can be fetched (no localhost, private or link-local networks)."""
ROBOTS_NOTE = " Sites' robots.txt is honoured."


class FetchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The http or https URL to fetch.", min_length=1)
    max_length: int = Field(
        default=5000,
        ge=1,
        le=MAX_LENGTH_CAP,
        description="Most characters to return in this call.",
    )
    start_index: int = Field(
        default=0,
        ge=0,
        description="Character offset to start at; use the value the previous answer gave "
        "to read on.",
    )
    raw: bool = Field(
        default=False,
        description="Return the body as sent (HTML unconverted) instead of Markdown.",
    )


class FetchTools:
    """The ``fetch`` group, over ``web``: the daemon's :class:`WebService` (its fetcher,
    shared with the hosted web fetch), which the daemon closes; without one, the group
    builds its own from ``settings`` and closes it. ``resolver`` and ``executor`` are that
    own service's seams for tests and the benchmark (the system resolver and a process pool
    otherwise)."""

    name = "fetch"

    def __init__(
        self,
        settings: FetchSettings,
        *,
        web: WebService | None = None,
        resolver: Resolver = system_resolver,
        executor: Executor | None = None,
    ) -> None:
        self._settings = settings
        self._owns_web = web is None
        self._web = web or WebService(fetch=settings, resolver=resolver, executor=executor)
        # The text a continuation (start_index > 0) pages through is the one the first
        # call saw, so indices line up even on a page that changes between calls.
        self._texts: OrderedDict[tuple[str, bool], tuple[float, str, str]] = OrderedDict()

    def tools(self) -> Sequence[ToolSpec]:
        return [
            ToolSpec(
                name="fetch",
                title="Fetch a web page",
                description=DESCRIPTION + (ROBOTS_NOTE if self._settings.robots else ""),
                input_schema=schema_of(FetchArgs),
                handler=self.call,
                read_only=True,
            )
        ]

    async def warm(self) -> None:
        """Start the extraction worker now rather than on the first fetch."""
        await self._web.warm()

    async def close(self) -> None:
        if self._owns_web:
            await self._web.close()

    async def call(self, arguments: Mapping[str, Any]) -> ToolResult:
        args = parse_arguments(FetchArgs, arguments)
        if isinstance(args, ToolResult):
            return args
        started = time.monotonic()
        outcome = "ok"
        try:
            url, text = await self._text(args, started)
        except FetchFailure as exc:
            # The failure's class names the outcome, as the mcp.fetch line always has:
            # badurl, refused, fetchfailed, toomanyredirects, unsupported.
            outcome = type(exc).__name__.lower()
            self._log(args, outcome, started)
            return ToolResult.error(str(exc))
        result = page(url, text, start_index=args.start_index, max_length=args.max_length)
        self._log(args, "past_end" if result.past_end else outcome, started, chars=len(text))
        return ToolResult(result.text, is_error=result.past_end)

    async def _text(self, args: FetchArgs, started: float) -> tuple[str, str]:
        key = (args.url, args.raw)
        if args.start_index > 0:
            kept = self._texts.get(key)
            if kept is not None and kept[0] > started:
                return kept[1], kept[2]
        fetched = await self._web.fetch(args.url, raw=args.raw)
        self._keep(key, fetched.url, fetched.text)
        return fetched.url, fetched.text

    def _keep(self, key: tuple[str, bool], url: str, text: str) -> None:
        self._texts[key] = (time.monotonic() + KEPT_SECONDS, url, text)
        self._texts.move_to_end(key)
        while len(self._texts) > KEPT_TEXTS or (
            len(self._texts) > 1 and sum(len(kept[2]) for kept in self._texts.values()) > KEPT_CHARS
        ):
            self._texts.popitem(last=False)

    def _log(self, args: FetchArgs, outcome: str, started: float, *, chars: int = 0) -> None:
        log.info(
            "mcp.fetch",
            extra={
                "fields": {
                    # Without the query, which may carry a token the model was given.
                    "url": args.url.split("?", 1)[0][:300],
                    "outcome": outcome,
                    "raw": args.raw,
                    "start_index": args.start_index,
                    "chars": chars,
                    "duration_s": round(time.monotonic() - started, 4),
                }
            },
        )
