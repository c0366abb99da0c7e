"""The browser as a workload, like a model: woken by the first call that needs it (which is
held while it starts), put to sleep after ``mcp.browser.idle_timeout`` without a call.

One :class:`BrowserWorkload` per daemon owns the Playwright driver, the browser (a local
child, or a connection to ``cdp_url``) and the sessions' contexts: one context per MCP
session, each with its own guard proxy, opened on the session's first call and closed when
the session ends, when it has had no call for the idle timeout, or when the browser stops.
A browser that dies on its own is noticed (Playwright's ``disconnected``): its sessions are
gone, the state is ``stopped`` with the reason kept, and the next call starts a new one.

The browser gives way to the model (autosred/giveway.py): while model requests are in
flight, actions start at least ``mcp.browser.busy_interval`` apart, on one schedule for every
session. Measured on the
2-core bench machine: browsing clients calling back to back (about 25 actions a second) took
saturating model streams to 0.65x even with Chromium and the driver at nice 10 (a bare busy
loop at nice 19 costs them 0.67-0.81x there), while clients at an agent's pace (a call a
second each) left them at 0.95x. An agent's calls come a model turn apart and never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import playwright
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from autosred.config import BrowserSettings
from autosred.giveway import GiveWay
from autosred.web.browser.chromium import ChromiumMissing, launch_plan
from autosred.web.browser.files import BrowserFiles
from autosred.web.browser.priority import children_running, lower_priority
from autosred.web.browser.session import BrowserSession
from autosred.web.browser.socksguard import GuardProxy
from autosred.web.fetch.addresses import AddressPolicy
from autosred.web.fetch.guard import Guard, Resolver, system_resolver

HOME_PROXY_HOST = "127.0.0.1"
"""Where the local child's own context's proxy listens (it is the daemon's child)."""
DRIVER_DIR = Path(playwright.__file__).parent / "driver"
"""Where Playwright's driver (its own Node.js) lies in the installed package."""
BrowserState = Literal["stopped", "starting", "running", "stopping"]
LOOPBACK_THROUGH_PROXY = "<-loopback>"
"""Chromium sends loopback straight past a proxy unless told not to; the guard must see it."""


class BrowserUnavailable(Exception):
    """The browser could not be started or reached; the message is a sentence for the model."""


@dataclass(frozen=True)
class BrowserSnapshot:
    """The workload as ``autosrectl status`` shows it."""

    state: BrowserState
    mode: Literal["launch", "cdp"]
    target: str
    """The executable launched, or the CDP endpoint."""
    sessions: int
    in_flight: int
    idle_in_seconds: float | None
    last_start_seconds: float | None
    last_error: str | None
    gave_way_seconds: float


class BrowserWorkload:
    """The daemon's browser. ``profile_dir``: the local child's profile (under state_dir);
    ``files_dir``: where PDFs and screenshots are saved (default: ``files`` beside it)."""

    def __init__(
        self,
        settings: BrowserSettings,
        *,
        profile_dir: Path,
        files_dir: Path | None = None,
        log: logging.Logger,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
        model_busy: Callable[[], bool] = lambda: False,
    ) -> None:
        """``model_busy``: whether model requests are in flight now (``busy_interval``)."""
        self._settings = settings
        self._profile_dir = profile_dir
        self.files = BrowserFiles(
            files_dir or profile_dir.parent / "files",
            max_files=settings.files_max,
            max_bytes=settings.files_max_bytes,
        )
        """The saved PDFs and screenshots."""
        self._log = log
        self._clock = clock
        self._guard = Guard(
            AddressPolicy.from_allow(settings.allow),
            resolver,
            tool="browser",
            allow_key="mcp.browser.allow",
        )
        self._state: BrowserState = "stopped"
        self._start_lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._home: BrowserContext | None = None
        """The local child's own (persistent) context, which no session uses."""
        self._home_proxy: GuardProxy | None = None
        self._sessions: OrderedDict[str, BrowserSession] = OrderedDict()
        self._in_flight = 0
        self._turns = GiveWay(model_busy, clock=clock)
        """Actions' turns while the model is busy (``busy_interval`` apart)."""
        self._gave_way = 0.0
        self._last_call = clock()
        self._last_start: float | None = None
        self._last_error: str | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    # ---------------------------------------------------------------------------- status

    def launch_problem(self) -> str | None:
        """Why the local child could not be started (no such executable), told at the
        daemon's start so that it is not first found by a model's call; None when it can
        be, or when the browser is a CDP endpoint (which only a call can reach)."""
        if self._settings.cdp_url is not None:
            return None
        try:
            launch_plan(self._settings.launch or "chromium", proxy_hosts=())
        except ChromiumMissing as exc:
            return str(exc)
        return None

    def snapshot(self) -> BrowserSnapshot:
        idle_in = None
        if self._state == "running" and self._in_flight == 0:
            idle_in = max(0.0, self._last_call + self._settings.idle_timeout - self._clock())
        cdp = self._settings.cdp_url
        return BrowserSnapshot(
            state=self._state,
            mode="cdp" if cdp is not None else "launch",
            target=cdp if cdp is not None else (self._settings.launch or ""),
            sessions=len(self._sessions),
            in_flight=self._in_flight,
            idle_in_seconds=None if idle_in is None else round(idle_in, 3),
            last_start_seconds=self._last_start,
            last_error=self._last_error,
            gave_way_seconds=round(self._gave_way, 3),
        )

    # ------------------------------------------------------------------------------ calls

    @contextlib.asynccontextmanager
    async def session(self, key: str) -> AsyncIterator[BrowserSession]:
        """The session ``key``'s context, for one call: the browser is started first if it
        is not running (the call waits), and the session's actions run one at a time.
        Raises :class:`BrowserUnavailable` when the browser cannot be had."""
        if self._closed:
            raise BrowserUnavailable("The daemon is stopping; call again once it is back.")
        self._in_flight += 1
        try:
            session = await self._session(key)
            async with session.lock:
                self._gave_way += await self._turns.turn(self._settings.busy_interval)
                try:
                    yield session
                finally:
                    session.last_used = self._clock()
        finally:
            self._in_flight -= 1
            self._last_call = self._clock()

    async def end_session(self, key: str) -> None:
        """The MCP session ``key`` ended: close its context (nothing if it had none)."""
        session = self._sessions.pop(key, None)
        if session is not None:
            await self._close_session(session, reason="session_ended")

    async def _session(self, key: str) -> BrowserSession:
        await self._ensure_running()
        session = self._sessions.get(key)
        if session is not None:
            self._sessions.move_to_end(key)
            return session
        async with self._start_lock:
            session = self._sessions.get(key)
            if session is None:
                session = await self._open_session(key)
                self._sessions[key] = session
            while len(self._sessions) > self._settings.max_sessions:
                _, oldest = self._sessions.popitem(last=False)
                await self._close_session(oldest, reason="too_many_sessions")
        return session

    async def _open_session(self, key: str) -> BrowserSession:
        browser = self._browser
        if browser is None:
            raise BrowserUnavailable("The browser stopped while the call waited; call again.")
        proxy = GuardProxy(guard=self._guard, host=self._settings.guard_listen, log=self._log)
        await proxy.start()
        width, height = self._settings.viewport
        try:
            context = await browser.new_context(
                proxy={"server": proxy.url, "bypass": LOOPBACK_THROUGH_PROXY},
                accept_downloads=False,
                service_workers="block",
                viewport={"width": width, "height": height},
            )
        except PlaywrightError as exc:
            await proxy.close()
            raise BrowserUnavailable(
                f"The browser could not open a context: {exc.message}"
            ) from None
        self._log.info(
            "browser.session_opened", extra={"fields": {"sessions": len(self._sessions) + 1}}
        )
        return BrowserSession(
            key=key, context=context, proxy=proxy, settings=self._settings, log=self._log
        )

    async def _close_session(self, session: BrowserSession, *, reason: str) -> None:
        await session.close()
        self._log.info(
            "browser.session_closed",
            extra={"fields": {"reason": reason, "sessions": len(self._sessions)}},
        )

    # ------------------------------------------------------------------------- the browser

    async def _ensure_running(self) -> None:
        if self._state == "running" and self._browser is not None:
            return
        async with self._start_lock:
            if self._state == "running" and self._browser is not None:
                return
            if self._closed:
                raise BrowserUnavailable("The daemon is stopping; call again once it is back.")
            await self._start()

    async def _start(self) -> None:
        self._state = "starting"
        started = time.monotonic()
        settings = self._settings
        mode = "cdp" if settings.cdp_url is not None else "launch"
        self._log.info("browser.starting", extra={"fields": {"mode": mode}})
        try:
            async with asyncio.timeout(settings.start_timeout):
                await self._open_browser()
        except (ChromiumMissing, PlaywrightError, TimeoutError, OSError) as exc:
            await self._teardown()
            self._state = "stopped"
            why = _why(exc, settings.start_timeout)
            self._last_error = why
            self._log.warning(
                "browser.start_failed", extra={"fields": {"mode": mode, "error": why}}
            )
            raise BrowserUnavailable(f"The browser could not be started: {why}") from None
        self._last_start = round(time.monotonic() - started, 3)
        self._last_error = None
        self._last_call = self._clock()
        self._state = "running"
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch_idle(), name="browser-idle")
        self._log.info(
            "browser.started",
            extra={"fields": {"mode": mode, "seconds": self._last_start}},
        )

    async def _open_browser(self) -> None:
        settings = self._settings
        plan = None
        if settings.cdp_url is None:
            # Before the driver starts: a missing executable fails at once.
            plan = launch_plan(
                settings.launch or "chromium",
                proxy_hosts=(HOME_PROXY_HOST, settings.guard_listen),
            )
        self._playwright = await async_playwright().start()
        self._lower_driver_priority()
        chromium = self._playwright.chromium
        if plan is None:
            assert settings.cdp_url is not None
            self._browser = await chromium.connect_over_cdp(
                settings.cdp_url, timeout=settings.start_timeout * 1000
            )
        else:
            if not plan.sandbox:
                self._log.warning(
                    "browser.no_sandbox",
                    extra={"fields": {"why": "running as root, where Chromium needs it off"}},
                )
            self._profile_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._home_proxy = GuardProxy(guard=None, host=HOME_PROXY_HOST, log=self._log)
            await self._home_proxy.start()
            self._home = await chromium.launch_persistent_context(
                str(self._profile_dir),
                executable_path=plan.executable,
                args=plan.args,
                headless=True,
                chromium_sandbox=plan.sandbox,
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
                proxy={"server": self._home_proxy.url, "bypass": LOOPBACK_THROUGH_PROXY},
                accept_downloads=False,
                service_workers="block",
                timeout=settings.start_timeout * 1000,
            )
            self._browser = self._home.browser
            if self._browser is None:
                raise BrowserUnavailable("Playwright gave no browser for the launched context")
        browser = self._browser
        browser.on("disconnected", lambda _: self._on_disconnected(browser))

    def _lower_driver_priority(self) -> None:
        """The driver just started, before it launches anything: what it starts inherits."""
        nice = self._settings.nice
        if nice == 0:
            return
        drivers = children_running(DRIVER_DIR)
        threads = sum(lower_priority(pid, nice) for pid in drivers)
        self._log.info(
            "browser.priority",
            extra={"fields": {"nice": nice, "drivers": drivers, "threads": threads}},
        )

    def _on_disconnected(self, browser: Browser) -> None:
        if browser is not self._browser or self._state == "stopping":
            return
        self._log.warning("browser.exited", extra={"fields": {"sessions": len(self._sessions)}})
        self._last_error = "the browser exited on its own"
        self._state = "stopping"
        asyncio.get_running_loop().create_task(self._stop(reason="exited"), name="browser-exited")

    async def _watch_idle(self) -> None:
        """Close sessions idle past the timeout; stop the browser once nothing used it for
        that long. Sleeps until the next deadline (never polls)."""
        idle = self._settings.idle_timeout
        while self._state == "running":
            now = self._clock()
            for key, session in list(self._sessions.items()):
                if not session.lock.locked() and now - session.last_used >= idle:
                    self._sessions.pop(key, None)
                    await self._close_session(session, reason="idle")
            if self._in_flight == 0 and now - self._last_call >= idle:
                async with self._start_lock:
                    if self._in_flight == 0 and self._state == "running":
                        await self._stop(reason="idle")
                return
            deadlines = [self._last_call + idle]
            deadlines += [session.last_used + idle for session in self._sessions.values()]
            await asyncio.sleep(max(0.05, min(deadlines) - now))

    async def _stop(self, *, reason: str) -> None:
        self._state = "stopping"
        while self._sessions:
            _, session = self._sessions.popitem(last=False)
            with contextlib.suppress(Exception):
                await session.close()
        await self._teardown()
        self._state = "stopped"
        self._log.info("browser.stopped", extra={"fields": {"reason": reason}})

    async def _teardown(self) -> None:
        browser, home, playwright, proxy = (
            self._browser,
            self._home,
            self._playwright,
            self._home_proxy,
        )
        self._browser = self._home = self._playwright = self._home_proxy = None
        with contextlib.suppress(PlaywrightError, OSError):
            if home is not None:
                await home.close()
            elif browser is not None:
                await browser.close()
        with contextlib.suppress(PlaywrightError, OSError):
            if playwright is not None:
                await playwright.stop()
        if proxy is not None:
            await proxy.close()

    async def close(self) -> None:
        """At the daemon's stop: close every session and stop the browser. Once."""
        if self._closed:
            return
        self._closed = True
        watcher = self._watcher
        if watcher is not None and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if self._state != "stopped" or self._playwright is not None:
            await self._stop(reason="shutdown")


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"it did not start within {timeout:g} s (mcp.browser.start_timeout)"
    if isinstance(exc, PlaywrightError):
        return (exc.message or str(exc)).strip().splitlines()[0][:500]
    return str(exc) or type(exc).__name__
