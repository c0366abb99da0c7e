"""The ``fetch`` tool group: ``fetch(url, max_length=5000, start_index=0, raw=false)``.

One call: parse the URL, then for every hop the SSRF guard (``guard.py``), robots.txt
(``robotsgate.py``) and one GET (``client.py``); the body is classified and decoded
(``content.py``), HTML turned into Markdown in a worker process (``worker.py``), and the
slice the model asked for returned with a note saying where the next one starts
(``pages.py``). Every failure is a tool error with a sentence the model can act on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import BrokenExecutor, Executor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autosred.config import FetchSettings
from autosred.mcp.fetch.pages import page
from autosred.mcp.tools import ToolResult, ToolSpec, parse_arguments, schema_of
from autosred.web.fetch.addresses import AddressPolicy
from autosred.web.fetch.client import Fetched, FetchFailed, HopCheck, HttpClient
from autosred.web.fetch.content import Kind, MediaType, Unsupported, decode, kind_of
from autosred.web.fetch.guard import Guard, Refused, Resolver, system_resolver
from autosred.web.fetch.robotsgate import RobotsGate
from autosred.web.fetch.urls import BadUrl, Target, parse_target
from autosred.web.fetch.worker import Extractor

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
    """The ``fetch`` group. ``resolver`` and ``executor`` are seams for tests and the
    benchmark (the system resolver and a process pool otherwise)."""

    name = "fetch"

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolver: Resolver = system_resolver,
        executor: Executor | None = None,
    ) -> None:
        self._settings = settings
        guard = Guard(AddressPolicy.from_allow(settings.allow), resolver)
        self._client = HttpClient(settings, guard)
        self._robots = RobotsGate(self._client)
        self._extractor = Extractor(executor)
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
        await self._extractor.warm()

    async def close(self) -> None:
        await self._client.close()
        await self._extractor.close()

    async def call(self, arguments: Mapping[str, Any]) -> ToolResult:
        args = parse_arguments(FetchArgs, arguments)
        if isinstance(args, ToolResult):
            return args
        started = time.monotonic()
        outcome = "ok"
        try:
            url, text = await self._text(args, started)
        except (BadUrl, Refused, FetchFailed, Unsupported) as exc:
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
        target = parse_target(args.url)
        deadline = started + self._settings.timeout
        try:
            # curl's own timeout (the time left, per hop) ends a slow transfer cleanly; this
            # one is the backstop for what curl does not time (the resolver, robots.txt).
            async with asyncio.timeout(self._settings.timeout + 1.0):
                fetched = await self._client.get(
                    target,
                    deadline=deadline,
                    max_bytes=self._settings.max_bytes,
                    max_redirects=self._settings.max_redirects,
                    check=self._robots_check(deadline) if self._settings.robots else None,
                )
        except TimeoutError:
            raise FetchFailed(
                f"Fetching {target.url} took longer than {self._settings.timeout:g} s; the "
                "site is slow or not answering. Try again later or use another source."
            ) from None
        text = await self._render(fetched, raw=args.raw)
        self._keep(key, fetched.target.url, text)
        return fetched.target.url, text

    def _robots_check(self, deadline: float) -> HopCheck:
        async def check(target: Target) -> None:
            await self._robots.check(target, deadline=deadline)

        return check

    async def _render(self, fetched: Fetched, *, raw: bool) -> str:
        media = MediaType.parse(fetched.content_type)
        kind = kind_of(media, fetched.body)
        text = decode(fetched.body, media, kind)
        if raw or kind is not Kind.HTML:
            return text
        try:
            return await self._extractor.markdown(text, fetched.target.url)
        except BrokenExecutor:
            self._extractor.discard()
            raise FetchFailed(
                f"{fetched.target.url} was fetched but its HTML could not be converted (the "
                "extraction worker stopped); call again with raw=true to get the HTML."
            ) from None

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
