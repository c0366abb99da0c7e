"""One MCP session's browser context: its tabs, its guard proxy, and the actions on them.

Every action is bounded by ``mcp.browser.action_timeout`` (Playwright's own timeouts, and an
outer one a little longer for what Playwright does not bound), and every failure the model
can act on is an :class:`ActionFailed` whose message is a sentence for it: a ref that is not
on the page, an element that never became clickable, a navigation the guard refused (with
the guard's reason, which Chromium itself reports only as ``ERR_SOCKS_CONNECTION_FAILED``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal, TypeVar

from playwright.async_api import BrowserContext, CDPSession, Locator, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from autosred.config import BrowserSettings
from autosred.web.browser.apng import Frame
from autosred.web.browser.socksguard import GuardProxy, GuardRefusal
from autosred.web.fetch.failure import FetchFailure
from autosred.web.fetch.urls import parse_target

T = TypeVar("T")

REF = re.compile(r"^[a-z][a-z0-9]{0,15}$")
"""An element ref as snapshots print them (``e12``; ``f1e3`` inside a frame)."""
OUTER_MARGIN = 5.0
"""Seconds past the action timeout before the outer bound cuts an action Playwright did
not bound itself (the browser hung)."""
LOAD_GRACE = 2.0
"""Seconds a navigation waits past DOMContentLoaded for the load event (images, late
scripts) before the page is read as it is."""
JPEG_QUALITIES = (80, 60, 40, 25)
MAX_FRAMES = 600
MAX_RECORDING_BYTES = 64 * 1024 * 1024
"""A recording keeps at most this many frames and bytes; later frames are dropped."""
ATTEMPTS = 3
"""Tries of a navigation that another one cut short (see ``_goto``)."""
SCROLL_FRACTION = 0.8

Direction = Literal["up", "down", "left", "right"]


class ActionFailed(Exception):
    """An action that did not happen; the message is a sentence for the model."""


@dataclass(frozen=True)
class Tab:
    index: int
    url: str
    title: str
    current: bool


@dataclass(frozen=True)
class PageView:
    """What the model is told after an action: where it is, the snapshot, what was refused."""

    url: str
    title: str
    snapshot: str
    tabs: int
    current_tab: int
    refused: tuple[GuardRefusal, ...]


@dataclass(frozen=True)
class Screenshot:
    data: bytes
    mime_type: str
    width: int
    height: int


class Recording:
    """The frames of one screencast, acknowledged as they come (Chromium sends the next
    only after the last was acknowledged), kept up to ``MAX_FRAMES`` and
    ``MAX_RECORDING_BYTES``."""

    def __init__(self, cdp: CDPSession, *, log: logging.Logger) -> None:
        self._cdp = cdp
        self._log = log
        self.frames: list[Frame] = []
        self.size = 0
        self.cut = False
        """Whether frames past the limits were dropped."""
        self.started = time.monotonic()
        self._acks: set[asyncio.Task[None]] = set()

    def on_frame(self, params: dict[str, object]) -> None:
        data, metadata = params.get("data"), params.get("metadata")
        timestamp = metadata.get("timestamp") if isinstance(metadata, dict) else None
        if isinstance(data, str) and isinstance(timestamp, (int, float)):
            png = base64.b64decode(data)
            if len(self.frames) < MAX_FRAMES and self.size + len(png) <= MAX_RECORDING_BYTES:
                self.frames.append(Frame(png=png, timestamp=float(timestamp)))
                self.size += len(png)
            else:
                self.cut = True
        ack = asyncio.get_running_loop().create_task(self._ack(params.get("sessionId")))
        self._acks.add(ack)
        ack.add_done_callback(self._acks.discard)

    async def _ack(self, session_id: object) -> None:
        with contextlib.suppress(PlaywrightError):
            await self._cdp.send("Page.screencastFrameAck", {"sessionId": session_id})

    async def stop(self) -> None:
        with contextlib.suppress(PlaywrightError):
            await self._cdp.send("Page.stopScreencast")
        for ack in list(self._acks):
            with contextlib.suppress(Exception):
                await ack
        with contextlib.suppress(PlaywrightError):
            await self._cdp.detach()


class BrowserSession:
    """The context of one MCP session (``key``), its guard proxy, and its current tab."""

    def __init__(
        self,
        *,
        key: str,
        context: BrowserContext,
        proxy: GuardProxy,
        settings: BrowserSettings,
        log: logging.Logger,
    ) -> None:
        self.key = key
        self._context = context
        self._proxy = proxy
        self._settings = settings
        self._log = log
        self._current: Page | None = None
        self._recording: Recording | None = None
        self.lock = asyncio.Lock()
        """Held for each action: one session's actions run one at a time, in order."""
        self.last_used = time.monotonic()
        timeout_ms = settings.action_timeout * 1000
        context.set_default_timeout(timeout_ms)
        context.set_default_navigation_timeout(timeout_ms)

    # ------------------------------------------------------------------------ the session

    @property
    def current_url(self) -> str:
        current = self._current
        return current.url if current is not None and not current.is_closed() else "about:blank"

    async def close(self) -> None:
        try:
            with contextlib.suppress(PlaywrightError):
                await self._context.close()
        finally:
            await self._proxy.close()

    def _pages(self) -> list[Page]:
        return [page for page in self._context.pages if not page.is_closed()]

    async def _page(self) -> Page:
        """The current tab (the latest open one if it closed), a new one if none is open."""
        pages = self._pages()
        if self._current is not None and self._current in pages:
            return self._current
        self._current = pages[-1] if pages else await self._context.new_page()
        return self._current

    def _take_refusals(self) -> tuple[GuardRefusal, ...]:
        refused = tuple(self._proxy.refusals)
        self._proxy.refusals.clear()
        return refused

    async def _bounded(self, what: str, action: Awaitable[T]) -> T:
        """``action``, with its failures as sentences for the model."""
        limit = self._settings.action_timeout
        try:
            async with asyncio.timeout(limit + OUTER_MARGIN):
                return await action
        except (PlaywrightTimeout, TimeoutError):
            raise ActionFailed(
                f"{what} did not finish within {limit:g} s (mcp.browser.action_timeout); "
                "take a snapshot to see the page as it is now."
            ) from None
        except PlaywrightError as exc:
            raise ActionFailed(self._explain(what, exc)) from None

    def _explain(self, what: str, exc: PlaywrightError) -> str:
        message = (exc.message or str(exc)).strip()
        first = message.splitlines()[0] if message else type(exc).__name__
        if "ERR_SOCKS_CONNECTION_FAILED" in first and self._proxy.refusals:
            reason = self._proxy.refusals[-1].reason
            return f"{what} was refused by the address guard: {reason}"
        if "ERR_SOCKS_CONNECTION_FAILED" in first:
            return f"{what} failed: the site could not be reached ({first})."
        if "No element matches" in message or "Unknown ref" in message or "ref=" in first:
            return (
                f"{what} failed: that ref is not on the page any more; take a new snapshot "
                "and use a ref from it."
            )
        return f"{what} failed: {first[:500]}"

    def _locator(self, page: Page, ref: str) -> Locator:
        if not REF.fullmatch(ref):
            raise ActionFailed(
                f"{ref[:40]!r} is not an element ref; use one a snapshot printed, such as e12."
            )
        return page.get_by_ref(ref)

    async def _element(self, page: Page, ref: str) -> Locator:
        """The element ``ref`` names, checked to be on the page now: an action on a ref
        that is gone would otherwise wait the whole action timeout for it to appear."""
        locator = self._locator(page, ref)
        if await self._bounded(f"Finding {ref}", locator.count()) == 0:
            raise ActionFailed(
                f"{ref} is not on the page (any more); take a new snapshot and use a ref from it."
            )
        return locator

    # --------------------------------------------------------------------------- reading

    async def view(self, *, ref: str | None = None) -> PageView:
        """The current tab's accessibility snapshot (of one element with ``ref``), capped."""
        page = await self._page()
        # The title is asked for while the snapshot is taken: one round trip, not two.
        title = asyncio.ensure_future(_title(page))
        try:
            if ref is None:
                text = await self._bounded("Reading the page", page.aria_snapshot(mode="ai"))
            else:
                locator = await self._element(page, ref)
                text = await self._bounded(
                    f"Reading element {ref}", locator.aria_snapshot(mode="ai")
                )
        except BaseException:
            title.cancel()
            raise
        pages = self._pages()
        return PageView(
            url=page.url,
            title=await title,
            snapshot=text,
            tabs=len(pages),
            current_tab=pages.index(page) if page in pages else 0,
            refused=self._take_refusals(),
        )

    async def tabs(self) -> list[Tab]:
        current = await self._page()
        tabs = []
        for index, page in enumerate(self._pages()):
            title = ""
            with contextlib.suppress(PlaywrightError):
                title = await page.title()
            tabs.append(Tab(index=index, url=page.url, title=title, current=page is current))
        return tabs

    # --------------------------------------------------------------------------- actions

    async def navigate(self, url: str) -> None:
        try:
            target = parse_target(url)
        except FetchFailure as exc:
            raise ActionFailed(str(exc).replace("fetched", "opened")) from None
        page = await self._page()
        self._proxy.refusals.clear()
        try:
            await self._bounded(f"Opening {target.url}", self._goto(page, target.url))
        except ActionFailed:
            await self._error_page_landed(page)
            raise
        await self._settle(page)

    async def _goto(self, page: Page, url: str) -> None:
        # A navigation that failed (a refused address) commits Chromium's error page a
        # moment later, and one that lands during the next navigation cuts it short
        # ("interrupted by another navigation to chrome-error://…"): that one is tried
        # again. Cut short by a navigation to the same URL, it is that one that goes on.
        for attempt in range(ATTEMPTS):
            try:
                await page.goto(url, wait_until="domcontentloaded")
                return
            except PlaywrightError as exc:
                message = exc.message or str(exc)
                if attempt + 1 == ATTEMPTS or "interrupted by another navigation" not in message:
                    raise
                if f'navigation to "{url}"' in message:
                    await page.wait_for_load_state("domcontentloaded")
                    return

    async def _error_page_landed(self, page: Page) -> None:
        """After a failed navigation, wait (briefly) for Chromium's error page to commit,
        so that the tab is quiet when the next action comes."""
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await page.wait_for_url(
                lambda url: url.startswith("chrome-error:"), timeout=LOAD_GRACE * 1000
            )

    async def back(self) -> bool:
        """Whether there was a page to go back to."""
        page = await self._page()
        response = await self._bounded("Going back", page.go_back(wait_until="domcontentloaded"))
        await self._settle(page)
        return response is not None

    async def click(self, ref: str) -> None:
        page = await self._page()
        await self._bounded(f"Clicking {ref}", (await self._element(page, ref)).click())
        await self._settle(page)

    async def type(self, ref: str, text: str, *, submit: bool) -> None:
        page = await self._page()
        locator = await self._element(page, ref)
        await self._bounded(f"Typing into {ref}", locator.fill(text))
        if submit:
            await self._bounded(f"Submitting {ref}", locator.press("Enter"))
        await self._settle(page)

    async def press(self, key: str) -> None:
        page = await self._page()
        await self._bounded(f"Pressing {key}", page.keyboard.press(key))
        await self._settle(page)

    async def select(self, ref: str, values: list[str]) -> list[str]:
        page = await self._page()
        chosen = await self._bounded(
            f"Selecting in {ref}", (await self._element(page, ref)).select_option(values)
        )
        await self._settle(page)
        return chosen

    async def scroll(self, *, direction: Direction | None, ref: str | None) -> None:
        page = await self._page()
        if ref is not None:
            await self._bounded(
                f"Scrolling to {ref}", (await self._element(page, ref)).scroll_into_view_if_needed()
            )
            return
        width, height = self._settings.viewport
        size = page.viewport_size
        if size is not None:
            width, height = size["width"], size["height"]
        dx, dy = {
            "up": (0, -height),
            "down": (0, height),
            "left": (-width, 0),
            "right": (width, 0),
        }[direction or "down"]
        await self._bounded(
            "Scrolling",
            page.mouse.wheel(dx * SCROLL_FRACTION, dy * SCROLL_FRACTION),
        )
        # The wheel scrolls asynchronously; the next frame has it applied.
        with contextlib.suppress(PlaywrightError):
            await page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")

    async def select_tab(self, index: int) -> None:
        pages = self._pages()
        if not 0 <= index < len(pages):
            raise ActionFailed(
                f"There is no tab {index}; the open tabs are 0 to {len(pages) - 1} (see tabs)."
            )
        self._current = pages[index]
        await self._bounded("Switching tabs", self._current.bring_to_front())

    async def wait_for(self, *, text: str | None, ref: str | None, timeout: float) -> None:
        page = await self._page()
        locator = (
            self._locator(page, ref) if ref is not None else page.get_by_text(text or "").first
        )
        what = f"element {ref}" if ref is not None else f"the text {text!r}"
        try:
            await asyncio.wait_for(
                locator.wait_for(state="visible", timeout=timeout * 1000), timeout + OUTER_MARGIN
            )
        except (PlaywrightTimeout, TimeoutError):
            raise ActionFailed(
                f"Waited {timeout:g} s and {what} did not appear; take a snapshot to see the "
                "page as it is."
            ) from None
        except PlaywrightError as exc:
            raise ActionFailed(self._explain(f"Waiting for {what}", exc)) from None

    async def screenshot(self, *, ref: str | None, full_page: bool, max_bytes: int) -> Screenshot:
        """A PNG of the tab (the element ``ref``, or the whole page), as a JPEG of lower
        and lower quality when the PNG is over ``max_bytes``."""
        page = await self._page()
        target: Page | Locator = page if ref is None else await self._element(page, ref)

        async def shoot(**options: object) -> bytes:
            if isinstance(target, Page):
                return await target.screenshot(full_page=full_page, **options)  # type: ignore[arg-type]
            return await target.screenshot(**options)  # type: ignore[arg-type]

        data = await self._bounded("Taking a screenshot", shoot(type="png"))
        mime = "image/png"
        for quality in JPEG_QUALITIES:
            if len(data) <= max_bytes:
                break
            data = await self._bounded("Taking a screenshot", shoot(type="jpeg", quality=quality))
            mime = "image/jpeg"
        if len(data) > max_bytes:
            raise ActionFailed(
                f"The screenshot is {len(data):,} bytes even as a JPEG, over the "
                f"{max_bytes:,} allowed (mcp.browser.max_screenshot_bytes); take one of an "
                "element (ref) or without full_page."
            )
        width, height = _image_size(data, mime)
        return Screenshot(data=data, mime_type=mime, width=width, height=height)

    # ------------------------------------------------------------------------ recording

    @property
    def recording(self) -> bool:
        return self._recording is not None

    async def record_start(self) -> None:
        """Start collecting the current tab's screencast frames (one recording at a time)."""
        if self._recording is not None:
            raise ActionFailed("A recording is already running; call record_stop first.")
        page = await self._page()
        cdp = await self._bounded("Starting the recording", self._context.new_cdp_session(page))
        recording = Recording(cdp, log=self._log)
        cdp.on("Page.screencastFrame", recording.on_frame)
        width, height = self._settings.viewport
        await self._bounded(
            "Starting the recording",
            cdp.send(
                "Page.startScreencast",
                {"format": "png", "maxWidth": width, "maxHeight": height, "everyNthFrame": 1},
            ),
        )
        self._recording = recording

    async def record_stop(self) -> Recording:
        """Stop the recording and hand its frames over."""
        recording = self._recording
        if recording is None:
            raise ActionFailed("No recording is running; call record_start first.")
        self._recording = None
        await recording.stop()
        return recording

    async def pdf(self) -> bytes:
        """The current page printed as a PDF (A4, backgrounds printed)."""
        page = await self._page()
        return await self._bounded(
            "Printing the page", page.pdf(format="A4", print_background=True)
        )

    async def evaluate(self, script: str) -> str:
        page = await self._page()
        result = await self._bounded("Running the script", page.evaluate(script))
        return repr(result) if not isinstance(result, str) else result

    async def _settle(self, page: Page) -> None:
        """Let a navigation an action started reach its load event, briefly: the snapshot
        after it then shows the new page rather than a blank one."""
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await page.wait_for_load_state("load", timeout=LOAD_GRACE * 1000)


async def _title(page: Page) -> str:
    """The page's title; "" when it cannot be read (the page is navigating or closed)."""
    try:
        return await page.title()
    except PlaywrightError:
        return ""


def _image_size(data: bytes, mime: str) -> tuple[int, int]:
    """Width and height from a PNG's IHDR or a JPEG's SOF marker (0, 0 if unreadable)."""
    if mime == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            index += 1
            continue
        marker = data[index + 1]
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            return width, height
        index += 2 + length
    return 0, 0
