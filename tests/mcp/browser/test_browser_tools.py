"""The browser group's tools on a real Chromium, in process (the daemon-level tests cover
the MCP wiring): evaluate when allowed, the text cap, a screenshot over its cap sent as a
JPEG, tabs a page opens, keys, refs that are not refs, arguments that are wrong, and two
sessions that do not share cookies. One workload for the module."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from autosred.config import BrowserSettings
from autosred.mcp.browser import BrowserTools
from autosred.mcp.tools import CallContext, ToolResult
from autosred.web.browser.workload import BrowserWorkload
from tests.mcp.browser.support import decode_apng, decode_png

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG_WORDS = 3000
PAGES = {
    "/long": "<title>Long</title>" + "".join(f"<p>Paragraph {i}</p>" for i in range(LONG_WORDS)),
    "/opener": '<title>Opener</title><a href="/child" target="_blank">Open a tab</a>'
    '<input aria-label="Search" onkeydown="if (event.key === \'Enter\') '
    "document.title = 'Entered ' + this.value\">",
    "/child": "<title>Child</title><h1>The new tab</h1>",
    # Blurred random blocks, like a photo: a PNG of over a megabyte, a JPEG of ~140 kB.
    "/noisy": "<title>Noisy</title><style>body{margin:0} canvas{filter:blur(4px)}</style>"
    "<canvas id=c width=1280 height=800></canvas><script>"
    "const x = document.getElementById('c').getContext('2d'); let s = 1;"
    "const r = () => (s = (s * 16807) % 2147483647) % 256;"
    "for (let i = 0; i < 160; i++) for (let j = 0; j < 100; j++) {"
    "x.fillStyle = `rgb(${r()},${r()},${r()})`; x.fillRect(i * 8, j * 8, 8, 8); }</script>",
    "/ticker": "<title>Ticker</title><h1 id=t>tick 0</h1><script>let n = 0;"
    "setInterval(() => { document.getElementById('t').textContent = 'tick ' + (++n); }, 50);"
    "</script>",
    "/cookie": "<title>Cookie</title><script>document.cookie = 'seen=yes'</script>",
    "/whoami": "<title>Whoami</title><p id=c></p><script>"
    "document.getElementById('c').textContent = 'cookie:' + (document.cookie || 'none')"
    "</script>",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site() -> AsyncIterator[str]:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=PAGES[request.path], content_type="text/html")

    app = web.Application()
    for path in PAGES:
        app.router.add_get(path, serve)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    (address, *_rest) = runner.addresses
    yield f"http://localhost:{int(address[1])}"
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tools(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserTools]:
    settings = BrowserSettings(
        enabled=True,
        allow=["localhost"],
        allow_evaluate=True,
        max_text_chars=4000,
        max_screenshot_bytes=200 * 1024,
        action_timeout=10,
    )
    workload = BrowserWorkload(
        settings,
        profile_dir=tmp_path_factory.mktemp("browser") / "profile",
        log=logging.getLogger("browser-test"),
    )
    group = BrowserTools(settings, workload=workload)
    yield group
    await group.close()


async def call(
    tools: BrowserTools, name: str, session: str = "one", **arguments: Any
) -> ToolResult:
    (spec,) = [spec for spec in tools.tools() if spec.name == name]
    assert spec.session_handler is not None
    return await spec.session_handler(arguments, CallContext(session=session, client="t"))


async def test_evaluate_is_offered_when_allowed(tools: BrowserTools, site: str) -> None:
    assert "evaluate" in {spec.name for spec in tools.tools()}
    await call(tools, "navigate", url=f"{site}/child")
    result = await call(tools, "evaluate", js="() => document.querySelector('h1').textContent")
    assert result == ToolResult("The new tab")
    thrown = await call(tools, "evaluate", js="() => { throw new Error('boom') }")
    assert thrown.is_error and "boom" in thrown.text


async def test_page_text_is_capped_with_a_note(tools: BrowserTools, site: str) -> None:
    result = await call(tools, "navigate", url=f"{site}/long")
    assert not result.is_error
    assert len(result.text) <= 4000 + 200
    assert "Paragraph 0" in result.text and f"Paragraph {LONG_WORDS - 1}" not in result.text
    assert "(cut at " in result.text and "scroll)" in result.text


async def test_a_screenshot_over_its_cap_comes_as_a_jpeg(tools: BrowserTools, site: str) -> None:
    await call(tools, "navigate", url=f"{site}/noisy")
    result = await call(tools, "screenshot")
    assert not result.is_error, result.text
    (image,) = result.images
    assert image.mime_type == "image/jpeg" and image.data[:3] == b"\xff\xd8\xff"
    assert len(image.data) <= 200 * 1024
    assert "1280x800 JPEG" in result.text


async def test_a_new_tab_and_keys(tools: BrowserTools, site: str) -> None:
    page = await call(tools, "navigate", session="tabs", url=f"{site}/opener")
    ref = page.text.split('link "Open a tab" [ref=')[1].split("]")[0]
    await call(tools, "click", session="tabs", ref=ref)
    # The tab opens as the page handles the click, after the click itself returned.
    async with asyncio.timeout(10):
        while "1: Child" not in (listed := await call(tools, "tabs", session="tabs")).text:
            await asyncio.sleep(0.05)
    assert "* 0: Opener" in listed.text
    switched = await call(tools, "tab", session="tabs", index=1)
    assert "The new tab" in switched.text and "Tab 1 of 2" in switched.text
    missing = await call(tools, "tab", session="tabs", index=5)
    assert missing.is_error and "no tab 5" in missing.text
    await call(tools, "tab", session="tabs", index=0)
    box = page.text.split('textbox "Search" [ref=')[1].split("]")[0]
    typed = await call(tools, "type", session="tabs", ref=box, text="herons", submit=True)
    assert "Title: Entered herons" in typed.text


@pytest.mark.parametrize(
    ("name", "arguments", "needle"),
    [
        ("click", {"ref": "e99999"}, "e99999 is not on the page"),
        ("click", {"ref": "button.primary"}, "is not an element ref"),
        ("click", {}, "ref: Field required"),
        ("scroll", {"direction": "up", "ref": "e1"}, "not both"),
        ("wait_for", {"text": "x", "ref": "e1"}, "exactly one of text and ref"),
        ("wait_for", {"text": "x", "timeout": 600}, "timeout"),
        ("navigate", {"url": "javascript:alert(1)"}, "only http and https"),
        ("navigate", {"url": "http://user:pw@localhost/"}, "credentials"),
        ("press", {"key": "NoSuchKey"}, "Pressing NoSuchKey failed"),
    ],
)
async def test_mistakes_are_tool_errors_saying_what_to_do(
    tools: BrowserTools, site: str, name: str, arguments: dict[str, Any], needle: str
) -> None:
    await call(tools, "navigate", session="mistakes", url=f"{site}/child")
    result = await call(tools, name, session="mistakes", **arguments)
    assert result.is_error, result.text
    assert needle in result.text, result.text


async def test_sessions_do_not_share_cookies(tools: BrowserTools, site: str) -> None:
    await call(tools, "navigate", session="first", url=f"{site}/cookie")
    same = await call(tools, "navigate", session="first", url=f"{site}/whoami")
    assert "cookie:seen=yes" in same.text
    other = await call(tools, "navigate", session="second", url=f"{site}/whoami")
    assert "cookie:none" in other.text
    await tools.session_ended("first")
    again = await call(tools, "navigate", session="first", url=f"{site}/whoami")
    assert "cookie:none" in again.text, "an ended session's context is gone"


async def test_a_workload_at_rest_reports_stopped_and_starts_nothing(tmp_path: Path) -> None:
    settings = BrowserSettings(enabled=True)
    snapshot = BrowserWorkload(
        settings, profile_dir=tmp_path / "p", log=logging.getLogger("t")
    ).snapshot()
    assert snapshot.state == "stopped" and snapshot.mode == "launch"
    assert snapshot.target == "chromium" and snapshot.idle_in_seconds is None
    assert not (tmp_path / "p").exists(), "nothing is made before the first call"


async def test_a_missing_chromium_is_said_at_start_and_by_each_call(tmp_path: Path) -> None:
    settings = BrowserSettings(enabled=True, launch=str(tmp_path / "no-chromium"))
    workload = BrowserWorkload(settings, profile_dir=tmp_path / "p", log=logging.getLogger("t"))
    problem = workload.launch_problem()
    assert problem is not None and "not an executable" in problem
    group = BrowserTools(settings, workload=workload)
    try:
        result = await call(group, "navigate", url="http://localhost/")
        assert result.is_error
        assert result.text.startswith("The browser could not be started: mcp.browser.launch is")
        snapshot = workload.snapshot()
        assert snapshot.state == "stopped" and snapshot.last_error == problem
    finally:
        await group.close()


@pytest_asyncio.fixture(loop_scope="module")
async def remote_chromium(tmp_path: Path) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Chromium someone else runs (as a browserless pod would), its DevTools endpoint."""
    profile = tmp_path / "remote-profile"
    process = subprocess.Popen(
        [
            "chromium", "--headless", "--disable-gpu", "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}",
            *(["--no-sandbox"] if os.geteuid() == 0 else []), "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    active = profile / "DevToolsActivePort"
    try:
        async with asyncio.timeout(30):
            while not active.exists() or not active.read_text().strip():
                await asyncio.sleep(0.05)
        port = active.read_text().split()[0]
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_browser_at_a_cdp_endpoint_is_used_and_left_running(
    remote_chromium: tuple[str, subprocess.Popen[bytes]], site: str, tmp_path: Path
) -> None:
    cdp_url, process = remote_chromium
    settings = BrowserSettings(enabled=True, cdp_url=cdp_url, allow=["localhost"])
    workload = BrowserWorkload(settings, profile_dir=tmp_path / "p", log=logging.getLogger("t"))
    assert workload.launch_problem() is None
    group = BrowserTools(settings, workload=workload)
    try:
        page = await call(group, "navigate", url=f"{site}/child")
        assert 'heading "The new tab"' in page.text, page.text
        assert workload.snapshot().mode == "cdp"
        port = site.rsplit(":", 1)[1]
        refused = await call(group, "navigate", url=f"http://127.0.0.1:{port}/child")
        assert refused.is_error and "loopback" in refused.text
    finally:
        await group.close()
    assert process.poll() is None, "the remote browser is disconnected from, not stopped"
    assert not (tmp_path / "p").exists(), "no local profile for a remote browser"


async def test_a_recording_is_an_animated_png_that_plays(tools: BrowserTools, site: str) -> None:
    await call(tools, "navigate", session="rec", url=f"{site}/ticker")
    assert (await call(tools, "record_stop", session="rec")).is_error, "none running yet"
    started = await call(tools, "record_start", session="rec")
    assert not started.is_error and "record_stop" in started.text
    again = await call(tools, "record_start", session="rec")
    assert again.is_error and "already running" in again.text
    await call(tools, "wait_for", session="rec", text="tick 12", timeout=20)
    stopped = await call(tools, "record_stop", session="rec")
    assert not stopped.is_error, stopped.text
    (link,) = stopped.links
    assert link.mime_type == "image/apng" and "animated PNG" in stopped.text
    found = await tools.read_resource(link.uri)
    assert found is not None and found[1] == "image/apng"
    frames, delays = decode_apng(found[0])
    assert frames >= 3, "the ticking page repainted while it was recorded"
    assert decode_png(found[0]) == (1280, 800)
    assert sum(delays[:-1]) > 0
