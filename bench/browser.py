"""What the browser tools cost per action: `python -m bench.browser [--rounds N]`.

One Chromium (Debian's) with a DevTools port stands for the browser; the daemon uses it as
``mcp.browser.cdp_url``, so the three ways of acting below drive the same browser on the same
page (a local site with 50 links and buttons):

- through the tool: the official MCP SDK client calling the daemon's ``/mcp/browser`` (a
  legacy session, as Claude Code opens one): ``snapshot``, ``click`` (which also answers
  with the new snapshot), ``screenshot``; and the same calls' time inside the daemon's
  handler (its ``mcp.browser`` log lines), which leaves out the MCP transport both ways;
- Playwright directly (``connect_over_cdp`` from this process): what the tool does inside,
  ``page.aria_snapshot(mode="ai")``, a click by role then that snapshot, ``page.screenshot()``;
- raw CDP over one WebSocket: ``Accessibility.getFullAXTree``, ``Input.dispatchMouseEvent``
  at an element's centre (no actionability check), ``Page.captureScreenshot``.

The browser group's own overhead is the handler − Playwright (the arguments, the checks, the
text); through the tool − the handler is the MCP host and the SDK client's share; the
client's is Playwright − raw CDP (the driver's round trip, and for a click its checks that
the element is visible, stable and enabled). Also the cold start of a local child: the first
``navigate`` of a daemon with ``mcp.browser.launch`` (Playwright's driver, Chromium, a
context) to its snapshot. Medians of ``--rounds`` calls, in milliseconds; the three ways
take turns call by call, so each sees the same load (a shared box's moves by the second);
the machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from mcp import Client
from playwright.async_api import async_playwright

from bench.daemon import Daemon, running_daemon, running_sim
from bench.procinfo import load_average

PAGE = (
    "<!doctype html><title>Bench</title><h1>Actions</h1>"
    + "".join(f"<p><a href='#{i}'>link {i}</a> <button>b{i}</button></p>" for i in range(50))
    + "<p id=out></p><script>document.querySelectorAll('button').forEach(b => "
    "b.addEventListener('click', () => { document.getElementById('out').textContent = "
    "'clicked ' + b.textContent; }));</script>"
)
Timed = Callable[[], Awaitable[object]]


class RawCdp:
    """CDP over one WebSocket: a call is a message out and its answer in, nothing else."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def read(self) -> None:
        async for message in self._socket:
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None:
                future.set_result(data)

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._socket.send_str(json.dumps(message))
        answer = await future
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["result"]


@contextlib.contextmanager
def remote_chromium(workdir: Path) -> Iterator[str]:
    profile = workdir / "remote-profile"
    command = [
        "chromium", "--headless", "--disable-gpu", "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}", "about:blank",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    active = profile / "DevToolsActivePort"
    try:
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().strip()):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{active.read_text().split()[0]}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.asynccontextmanager
async def site() -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/page", page)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    (address, *_rest) = runner.addresses
    try:
        yield f"http://localhost:{int(address[1])}/page"
    finally:
        await runner.cleanup()


def browser_sections(**browser: Any) -> dict[str, Any]:
    return {
        "mcp": {
            "fetch": {"enabled": False},
            "search": {"enabled": False},
            "capabilities": {"enabled": False},
            "browser": {"enabled": True, "allow": ["localhost"], **browser},
        }
    }


def api_url(daemon: Daemon) -> str:
    host, port = daemon.api
    return f"http://{host}:{port}"


ACTIONS = ("snapshot", "click", "screenshot")
WAYS = ("tool", "playwright", "raw")


async def interleaved(
    daemon: Daemon, cdp_url: str, url: str, rounds: int
) -> dict[str, dict[str, float]]:
    """Medians per way and action, the three ways taking turns call by call, so that each
    sees the same machine (the load of a shared box moves by the second)."""
    samples: dict[str, dict[str, list[float]]] = {
        way: {action: [] for action in ACTIONS} for way in WAYS
    }
    async with (
        Client(api_url(daemon) + "/mcp/browser", mode="legacy") as client,
        async_playwright() as playwright,
        aiohttp.ClientSession() as http,
    ):
        page_text = (await client.call_tool("navigate", {"url": url})).content[0]
        ref = page_text.text.split('button "b3" [ref=')[1].split("]")[0]  # type: ignore[union-attr]
        browser = await playwright.chromium.connect_over_cdp(cdp_url)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await page.goto(url)
        button = page.get_by_role("button", name="b3", exact=True)

        async def click_then_snapshot() -> None:
            await button.click()
            await page.aria_snapshot(mode="ai")

        async with http.get(f"{cdp_url}/json/version") as response:
            socket_url = (await response.json())["webSocketDebuggerUrl"]
        socket = await http.ws_connect(socket_url, max_msg_size=0)
        cdp = RawCdp(socket)
        reader = asyncio.create_task(cdp.read())
        # A context of its own (a window of its own: a second tab in one window is a
        # background tab, which Chromium does not paint).
        raw_context = await browser.new_context(viewport={"width": 1280, "height": 800})
        raw_page = await raw_context.new_page()
        await raw_page.goto(url)
        await raw_page.evaluate("document.title = 'Bench raw'")
        targets = (await cdp.call("Target.getTargets"))["targetInfos"]
        raw_target = next(t for t in targets if t["title"] == "Bench raw")
        attached = await cdp.call(
            "Target.attachToTarget", targetId=raw_target["targetId"], flatten=True
        )
        session = attached["sessionId"]
        where = await cdp.call(
            "Runtime.evaluate",
            session,
            expression="(() => { const b = [...document.querySelectorAll('button')]"
            ".find(x => x.textContent === 'b3').getBoundingClientRect();"
            " return [b.x + b.width / 2, b.y + b.height / 2]; })()",
            returnByValue=True,
        )
        x, y = where["result"]["value"]

        async def raw_click() -> None:
            for kind in ("mousePressed", "mouseReleased"):
                await cdp.call(
                    "Input.dispatchMouseEvent", session, type=kind, x=x, y=y, button="left",
                    clickCount=1,
                )  # fmt: skip
            await cdp.call("Accessibility.getFullAXTree", session)

        calls: dict[str, dict[str, Timed]] = {
            "tool": {
                "snapshot": lambda: client.call_tool("snapshot", {}),
                "click": lambda: client.call_tool("click", {"ref": ref}),
                "screenshot": lambda: client.call_tool("screenshot", {}),
            },
            "playwright": {
                "snapshot": lambda: page.aria_snapshot(mode="ai"),
                "click": click_then_snapshot,
                "screenshot": page.screenshot,
            },
            "raw": {
                "snapshot": lambda: cdp.call("Accessibility.getFullAXTree", session),
                "click": raw_click,
                "screenshot": lambda: cdp.call("Page.captureScreenshot", session, format="png"),
            },
        }
        for round_number in range(rounds + 3):
            for action in ACTIONS:
                for way in WAYS:
                    started = time.perf_counter()
                    await calls[way][action]()
                    if round_number >= 3:  # the first rounds warm up
                        samples[way][action].append((time.perf_counter() - started) * 1000)
        reader.cancel()
        await socket.close()
        await context.close()
        await raw_context.close()
    return {
        way: {action: statistics.median(values) for action, values in by_action.items()}
        for way, by_action in samples.items()
    }


def handler_medians(log: Path, rounds: int) -> dict[str, float]:
    """The tool calls' own durations, from the daemon's ``mcp.browser`` lines (the last
    ``rounds`` of each tool: the measured ones), in milliseconds."""
    durations: dict[str, list[float]] = {action: [] for action in ACTIONS}
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == "mcp.browser" and event.get("tool") in durations:
                durations[event["tool"]].append(float(event["duration_s"]) * 1000)
    return {action: statistics.median(values[-rounds:]) for action, values in durations.items()}


async def cold_start(daemon: Daemon, url: str) -> float:
    async with Client(api_url(daemon) + "/mcp/browser", mode="legacy") as client:
        started = time.perf_counter()
        result = await client.call_tool("navigate", {"url": url})
        elapsed = (time.perf_counter() - started) * 1000
        assert not result.is_error, result
    return elapsed


async def measure(rounds: int) -> str:
    lines = []
    with tempfile.TemporaryDirectory() as temp, running_sim(Path(temp)) as sim:
        workdir = Path(temp)
        async with site() as url:
            launch_dir = workdir / "launch"
            launch_dir.mkdir()
            with running_daemon(launch_dir, sim, sections=browser_sections()) as daemon:
                wake = await cold_start(daemon, url)
            cdp_dir = workdir / "cdp"
            cdp_dir.mkdir()
            with (
                remote_chromium(cdp_dir) as cdp_url,
                running_daemon(cdp_dir, sim, sections=browser_sections(cdp_url=cdp_url)) as daemon,
            ):
                figures = await interleaved(daemon, cdp_url, url, rounds)
                handler = handler_medians(daemon.log_path, rounds)
    tool, played, raw = figures["tool"], figures["playwright"], figures["raw"]
    lines.append(f"browser wake (local child: first navigate to its snapshot): {wake:.0f} ms")
    lines.append("")
    lines.append(
        "| action | through the tool | in the daemon's handler | Playwright | raw CDP "
        "| handler − Playwright |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for action in ACTIONS:
        lines.append(
            f"| {action} | {tool[action]:.1f} ms | {handler[action]:.1f} ms | "
            f"{played[action]:.1f} ms | {raw[action]:.1f} ms | "
            f"{handler[action] - played[action]:+.1f} ms |"
        )
    lines.append("")
    lines.append(f"{rounds} rounds each, medians; load average {load_average()[0]:.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.browser", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(asyncio.run(measure(args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
