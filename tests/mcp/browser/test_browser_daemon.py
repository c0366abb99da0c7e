"""The browser tools in the real daemon, through the official MCP SDK client at
/mcp/browser: a real Chromium (Debian's) started by the daemon on the first call, a local
test site (login form, single-page app, a late element, pages that reach for the daemon's
own metrics), the address guard on every request, and the browser stopped when idle and
woken again. One daemon for the module (its idle timeout is short, for the last test).

The SDK client speaks 2026-07-28 by default, which has no sessions: those calls share the
client's own context (``client:<token>``); the login test opens a handshake session."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import BlobResourceContents, ResourceLink

from tests.mcp.browser.site import PASSWORD, USER, BrowserSite, running_browser_site
from tests.mcp.browser.support import (
    chromium_processes,
    decode_png,
    descendants,
    image_of,
    text_of,
)
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe
from tests.support.held import model_stream_held_open

pytestmark = pytest.mark.asyncio(loop_scope="module")

IDLE = 4.0
"""The module daemon's ``mcp.browser.idle_timeout``."""
BUSY_INTERVAL = 0.5
"""Its ``mcp.browser.busy_interval`` (half the default, to keep the test short)."""
VIEWPORT = (1024, 640)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("browser")
    config = base_config(
        tmp_path,
        [sim_recipe()],
        mcp={
            "fetch": {"enabled": False},
            "search": {"enabled": False},
            "capabilities": {"enabled": False},
            "browser": {
                "enabled": True,
                "launch": "chromium",
                "allow": ["localhost"],
                "idle_timeout": IDLE,
                "busy_interval": BUSY_INTERVAL,
                "action_timeout": 10,
                "viewport": list(VIEWPORT),
            },
        },
    )
    async with running_daemon(tmp_path, config) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(daemon: Daemon) -> AsyncIterator[BrowserSite]:
    metrics = f"{daemon.metrics_url}/metrics"
    async with running_browser_site(refused_target=metrics) as running:
        yield running


def ref_of(snapshot: str, role: str, name: str) -> str:
    """The ref of the line ``- role "name" … [ref=eN]`` in a snapshot."""
    pattern = re.compile(rf'- {re.escape(role)} "{re.escape(name)}"[^\n]*\[ref=(\w+)\]')
    found = pattern.search(snapshot)
    assert found is not None, f"no {role} {name!r} in:\n{snapshot}"
    return found.group(1)


async def call(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def test_log_in_by_refs_then_read_a_client_side_route(
    daemon: Daemon, site: BrowserSite
) -> None:
    # A handshake session (as Claude Code and Codex open): the context is the session's.
    async with Client(daemon.api_url + "/mcp/browser", mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert tools == {
            "navigate", "snapshot", "click", "type", "press", "scroll", "select", "back",
            "tabs", "tab", "wait_for", "pdf", "record_start", "record_stop", "screenshot",
        }  # fmt: skip
        page = await call(client, "navigate", url=site.url("/login"))
        assert f"Page: {site.url('/login')}" in page
        assert "Title: Sign in" in page
        await call(client, "type", ref=ref_of(page, "textbox", "User name"), text=USER)
        await call(client, "type", ref=ref_of(page, "textbox", "Password"), text=PASSWORD)
        chosen = await call(client, "select", ref=ref_of(page, "combobox", "Team"), values=["dev"])
        assert "Selected dev" in chosen
        after = await call(client, "click", ref=ref_of(page, "button", "Sign in"))
        assert 'heading "Welcome, alice"' in after, after
        assert "Team: dev" in after
        assert f"Page: {site.url('/account')}" in after

        app = await call(client, "click", ref=ref_of(after, "link", "Open the app"))
        assert "Pick a report." in app
        reports = await call(client, "click", ref=ref_of(app, "link", "Reports"))
        assert "Quarterly report: 42 widgets shipped" in reports
        assert f"Page: {site.url('/app/reports')}" in reports
        assert site.hits["/app/reports"] == 0, "the route is the page's own, not a request"
        back = await call(client, "back")
        assert "Pick a report." in back

        status = await daemon.status()
        # What autosrectl claude/codex hand their client: the browser is one of the servers.
        assert status["mcp"] == {"browser": "/mcp/browser"}
        browser = status["browser"]
        assert browser["state"] == "running" and browser["mode"] == "launch"
        assert browser["sessions"] >= 1
    # The SDK client ended its session (DELETE): its context is closed with it.
    await wait_for_event(daemon, "browser.session_closed", reason="session_ended")


async def test_the_driver_yields_the_cpu_and_the_daemon_does_not(
    daemon: Daemon, site: BrowserSite
) -> None:
    async with Client(daemon.api_url + "/mcp/browser") as client:
        await call(client, "navigate", url=site.url("/app/"))
    processes = descendants(daemon.process.pid)
    drivers = [pid for pid, cmd in processes.items() if "/playwright/driver/" in cmd]
    assert drivers, f"no Playwright driver among the daemon's processes: {processes}"
    ours = os.getpriority(os.PRIO_PROCESS, 0)  # what the daemon inherited from this test
    for pid in drivers:
        # mcp.browser.nice's default; every thread, not only the first.
        assert set(thread_nice(pid).values()) == {max(10, ours)}, thread_nice(pid)
    # The daemon's own threads (the model streams' loop) keep their priority. (Chromium's
    # are not asserted: as root, which this suite runs as, Chromium raises some of its own
    # threads again; under the unit it has no capability to.)
    assert set(thread_nice(daemon.process.pid).values()) == {ours}
    await wait_for_event(daemon, "browser.priority", nice=10)


async def test_a_late_element_is_waited_for(daemon: Daemon, site: BrowserSite) -> None:
    async with Client(daemon.api_url + "/mcp/browser") as client:
        page = await call(client, "navigate", url=site.url("/slow"))
        assert "Data loaded" not in page
        waited = await call(client, "wait_for", text="Data loaded", timeout=10)
        assert "Data loaded: 7 rows" in waited
        assert ref_of(waited, "button", "Export")
        missing = await client.call_tool("wait_for", {"text": "never there", "timeout": 0.5})
        assert missing.is_error and "did not appear" in text_of(missing)


async def test_screenshots_are_pngs_of_the_viewport_and_the_page(
    daemon: Daemon, site: BrowserSite
) -> None:
    async with Client(daemon.api_url + "/mcp/browser") as client:
        await call(client, "navigate", url=site.url("/tall"))
        shot = await client.call_tool("screenshot", {})
        assert not shot.is_error, text_of(shot)
        data, mime = image_of(shot)
        assert mime == "image/png"
        assert decode_png(data) == VIEWPORT
        assert f"{VIEWPORT[0]}x{VIEWPORT[1]} PNG" in text_of(shot)
        full = await client.call_tool("screenshot", {"full_page": True})
        width, height = decode_png(image_of(full)[0])
        assert width == VIEWPORT[0] and height > 3000
        page = await call(client, "scroll", direction="down")
        assert "Scrolled down" in page

        # The screenshots and a PDF are saved, linked from the answers, listed and read as
        # the server's resources.
        (link,) = [item for item in full.content if isinstance(item, ResourceLink)]
        assert link.mime_type == "image/png" and str(link.uri) in text_of(full)
        printed = await client.call_tool("pdf", {})
        assert not printed.is_error, text_of(printed)
        (pdf_link,) = [item for item in printed.content if isinstance(item, ResourceLink)]
        assert pdf_link.mime_type == "application/pdf"
        (contents,) = (await client.read_resource(str(pdf_link.uri))).contents
        assert isinstance(contents, BlobResourceContents)
        pdf = base64.b64decode(contents.blob)
        assert pdf.startswith(b"%PDF-") and len(pdf) == pdf_link.size
        (png,) = (await client.read_resource(str(link.uri))).contents
        assert isinstance(png, BlobResourceContents)
        assert decode_png(base64.b64decode(png.blob))[0] == VIEWPORT[0]
        listed = {str(item.uri) for item in (await client.list_resources()).resources}
        assert {str(link.uri), str(pdf_link.uri)} <= listed
        with pytest.raises(MCPError, match="No resource"):
            await client.read_resource("autosred://browser/files/../../etc/passwd")


async def test_the_guard_blocks_a_redirect_and_sub_requests_to_the_metrics_port(
    daemon: Daemon, site: BrowserSite
) -> None:
    metrics_port = int(daemon.listeners["metrics"].rsplit(":", 1)[1])
    async with Client(daemon.api_url + "/mcp/browser") as client:
        leave = await client.call_tool("navigate", {"url": site.url("/leave")})
        assert leave.is_error, text_of(leave)
        assert "refused by the address guard" in text_of(leave)
        assert f"127.0.0.1:{metrics_port}" in text_of(leave)
        assert "loopback" in text_of(leave)

        leaky = await call(client, "navigate", url=site.url("/leaky"))
        assert f"Blocked request to 127.0.0.1:{metrics_port}" in leaky
        settled = await call(client, "wait_for", text="fetch failed", timeout=10)
        assert "LEAKED" not in settled

        for url, why in {
            "file:///etc/passwd": "only http and https",
            "chrome://version": "only http and https",
            "devtools://devtools/bundled/inspector.html": "only http and https",
            f"http://127.0.0.1:{metrics_port}/metrics": "loopback",
            "http://169.254.169.254/latest/meta-data/": "link-local",
        }.items():
            result = await client.call_tool("navigate", {"url": url})
            assert result.is_error, url
            assert why in text_of(result), text_of(result)
    refused = daemon.events_named("browser.request_refused")
    assert any(event.get("port") == metrics_port for event in refused), refused


async def test_evaluate_is_not_offered_unless_allowed(daemon: Daemon) -> None:
    async with Client(daemon.api_url + "/mcp/browser") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "evaluate" not in names
        with pytest.raises(MCPError, match="Unknown tool: evaluate"):
            await client.call_tool("evaluate", {"js": "1 + 1"})


async def test_actions_start_apart_while_a_model_request_is_in_flight(
    daemon: Daemon, site: BrowserSite
) -> None:
    async with Client(daemon.api_url + "/mcp/browser") as client:
        await call(client, "navigate", url=site.url("/app/"))
        before = (await daemon.status())["browser"]["gave_way_seconds"]
        async with model_stream_held_open(daemon):
            started = time.monotonic()
            for _ in range(3):
                await call(client, "snapshot")
            elapsed = time.monotonic() - started
        after = (await daemon.status())["browser"]["gave_way_seconds"]
        # The first action at once, each next one BUSY_INTERVAL after the one before: a lower
        # bound no machine can beat (unspaced, three snapshots take tens of milliseconds).
        assert elapsed >= 2 * BUSY_INTERVAL * 0.95, elapsed
        # The status sums only the waits, which the actions' own time shortens on a loaded
        # machine: more than nothing, at most the schedule.
        assert 0 < after - before <= 2 * BUSY_INTERVAL + 0.01
        # The model idle again: no waiting.
        await call(client, "snapshot")
        assert (await daemon.status())["browser"]["gave_way_seconds"] == after


async def test_the_browser_stops_when_idle_and_wakes_on_the_next_call(
    daemon: Daemon, site: BrowserSite
) -> None:
    async with Client(daemon.api_url + "/mcp/browser") as client:
        await call(client, "navigate", url=site.url("/app/"))
        assert chromium_processes(daemon.process.pid), "Chromium runs under the daemon"
        stopped = await wait_browser_state(daemon, "stopped", timeout=IDLE + 20)
        assert stopped["last_error"] is None
        assert not chromium_processes(daemon.process.pid), "no Chromium left after the stop"
        assert any(e.get("reason") == "idle" for e in daemon.events_named("browser.stopped"))
        starts = len(daemon.events_named("browser.started"))
        # The same session calls again: a new browser, a new context, the page reloads.
        page = await call(client, "navigate", url=site.url("/app/reports"))
        assert "Quarterly report" in page
        assert len(daemon.events_named("browser.started")) == starts + 1
        assert (await daemon.status())["browser"]["state"] == "running"
    profile = Path(str(daemon.config_path.parent / "state" / "browser" / "profile"))
    assert profile.is_dir() and oct(profile.stat().st_mode & 0o777) == "0o700"


async def test_no_chromium_outlives_a_killed_daemon(tmp_path: Path, site: BrowserSite) -> None:
    config = base_config(
        tmp_path,
        [],
        mcp={"browser": {"enabled": True, "allow": ["localhost"]}},
    )
    async with running_daemon(tmp_path, config) as killed:
        async with Client(killed.api_url + "/mcp/browser") as client:
            await call(client, "navigate", url=site.url("/app/"))
        browsers = chromium_processes(killed.process.pid)
        assert browsers, "Chromium runs under the daemon"
        killed.process.send_signal(signal.SIGKILL)
        await killed.process.wait()
        # The Playwright driver sees its pipe close and takes its browser down with it.
        async with asyncio.timeout(20):
            while left := [pid for pid in browsers if running(pid)]:
                await asyncio.sleep(0.1)
        assert not left


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def wait_browser_state(daemon: Daemon, state: str, *, timeout: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            browser = (await daemon.status())["browser"]
            if browser["state"] == state:
                return dict(browser)
            await asyncio.sleep(0.1)


async def wait_for_event(daemon: Daemon, name: str, *, timeout: float = 10, **fields: Any) -> None:
    async with asyncio.timeout(timeout):
        while not any(
            all(event.get(key) == value for key, value in fields.items())
            for event in daemon.events_named(name)
        ):
            await asyncio.sleep(0.05)


def thread_nice(pid: int) -> dict[int, int]:
    """Each thread of ``pid``: its nice value."""
    return {
        int(tid): os.getpriority(os.PRIO_PROCESS, int(tid))
        for tid in os.listdir(f"/proc/{pid}/task")
    }
