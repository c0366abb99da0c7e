"""The ``browser`` part of ``python -m bench.run``: what the browser tools cost
(`python -m bench.browser [--quick]` runs it alone and prints its section).

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

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from mcp import Client
from playwright.async_api import async_playwright

from autosred.config import BrowserSettings
from bench import scenarios
from bench.beside import paired_ratio, ratios_text, streams_beside
from bench.daemon import (
    Daemon,
    free_port,
    http_get_status,
    running_daemon,
    running_sim,
)
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
        "nice", "-n", "10",
        "chromium", "--headless", "--disable-gpu", "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}", "about:blank",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.insert(4, "--no-sandbox")
        # Chromium as root raises its own threads' priority (to nice -8) whatever it was
        # started at; without CAP_SYS_NICE it cannot, as under the daemon's unit (no
        # capabilities) or in a browserless pod. Measure that case, not root's.
        command[:0] = ["setpriv", "--bounding-set=-sys_nice"]
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


@contextlib.contextmanager
def page_server(workdir: Path) -> Iterator[tuple[str, str]]:
    """The page on loopback (``python -m http.server`` at nice 10), its URL as the browser
    names it (``localhost``, which the daemon's config opens) and the command."""
    site = workdir / "site"
    site.mkdir(exist_ok=True)
    (site / "page.html").write_text(PAGE)
    port = free_port()
    command = ["nice", "-n", "10", sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
    command += ["--directory", str(site), str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if http_get_status("127.0.0.1", port, "/page.html") == 200:
                    break
            except OSError:
                time.sleep(0.05)
        yield (
            f"http://localhost:{port}/page.html",
            " ".join([*command[:-2], "$BENCH_DIR/site", str(port)]),
        )
    finally:
        server.terminate()
        server.wait()


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


@dataclass(frozen=True)
class PartSettings:
    rounds: int
    window: float
    """Seconds of each model-stream turn."""
    turns: int


QUICK = PartSettings(rounds=15, window=3.0, turns=1)
FULL = PartSettings(rounds=30, window=5.0, turns=7)
STREAMS = 16
BROWSER_CLIENTS = 2
AGENT_PAUSE = 1.0
"""Seconds between a paced client's calls: an agent's pace, the model's turn between two
tool calls (the back-to-back load is the stress case)."""
RATIO_TARGET = 0.9
OVERHEAD_TARGET_MS = 15.0


@dataclass
class BrowserFigures:
    settings: PartSettings
    wake_ms: float = 0.0
    ways: dict[str, dict[str, float]] = field(default_factory=dict)
    """tool, handler, playwright, raw -> action -> median ms."""
    load: float = 0.0
    without: list[float] = field(default_factory=list)
    with_browser: list[float] = field(default_factory=list)
    actions_per_s: list[float] = field(default_factory=list)
    paced_without: list[float] = field(default_factory=list)
    paced_with: list[float] = field(default_factory=list)
    paced_actions_per_s: list[float] = field(default_factory=list)
    """The same at an agent's pace (``AGENT_PAUSE`` between a client's calls)."""
    commands: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0


def streams(
    settings: PartSettings, figures: BrowserFigures, spec: dict[str, Any], browse: list[str]
) -> None:
    beside = streams_beside(spec, browse, turns=settings.turns, what="browser")
    figures.without += beside.without
    figures.with_browser += beside.with_load
    figures.actions_per_s += [t["calls"] / t["seconds"] for t in beside.totals]
    paced = streams_beside(
        spec, [*browse, str(AGENT_PAUSE)], turns=settings.turns, what="paced browser"
    )
    figures.paced_without += paced.without
    figures.paced_with += paced.with_load
    figures.paced_actions_per_s += [t["calls"] / t["seconds"] for t in paced.totals]


def measure(
    workdir: Path, *, quick: bool = False, progress: Callable[[str], None] = print
) -> BrowserFigures:
    settings = QUICK if quick else FULL
    figures = BrowserFigures(settings=settings)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    with running_sim(workdir) as sim, page_server(workdir) as (url, server_command):
        launch_dir = workdir / "launch"
        launch_dir.mkdir()
        progress("browser: cold wake of a local child")
        with running_daemon(launch_dir, sim, sections=browser_sections()) as daemon:
            figures.wake_ms = asyncio.run(cold_start(daemon, url))
        cdp_dir = workdir / "cdp"
        cdp_dir.mkdir()
        with (
            remote_chromium(cdp_dir) as cdp_url,
            running_daemon(cdp_dir, sim, sections=browser_sections(cdp_url=cdp_url)) as daemon,
        ):
            progress(f"browser: per action, {settings.rounds} rounds, the ways taking turns")
            figures.ways = asyncio.run(interleaved(daemon, cdp_url, url, settings.rounds))
            figures.ways["handler"] = handler_medians(daemon.log_path, settings.rounds)
            figures.load = load_average()[0]
            (route,) = scenarios.build_routes(
                ["anthropic"], sim, daemon, {}, scenarios.stream_reply(200)
            )
            events = scenarios.expected_events([route])[route.key]
            spec = {
                "mode": "throughput",
                **route.spec(),
                "concurrency": STREAMS,
                "warmup": 0.5,
                "duration": settings.window,
                "expect_events": events,
            }
            browse = ["nice", "-n", "10", sys.executable, "-m", "bench.browserload"]
            browse += [api_url(daemon) + "/mcp/browser", url, str(BROWSER_CLIENTS)]
            figures.commands = {
                "page server": server_command,
                "browser": "[setpriv --bounding-set=-sys_nice, as root] nice -n 10 chromium "
                "--headless --remote-debugging-port=0 …",
                "model streams": f"python -m bench.loadgen '{json.dumps(spec)}'",
                "browser load": " ".join(["nice", "-n", "10", "python", *browse[4:]])
                + f" [{AGENT_PAUSE:g}, paced]",
            }
            progress(f"browser: model streams with and without {BROWSER_CLIENTS} browsing clients")
            streams(settings, figures, spec, browse)
    figures.elapsed = time.monotonic() - started
    return figures


def section(figures: BrowserFigures | None) -> list[str]:
    if figures is None:
        return []
    ways = figures.ways
    worst = max(ways["handler"][action] - ways["playwright"][action] for action in ACTIONS)
    ratio = paired_ratio(figures.without, figures.with_browser)
    paced = paired_ratio(figures.paced_without, figures.paced_with)
    lines = [
        "#### 11. MCP browser tools: wake, per-action cost, model streams while browsing",
        "",
        f"Part: {figures.elapsed:.0f} s. One Chromium with a DevTools port stands for the "
        "browser (the daemon's `mcp.browser.cdp_url`), so every way below drives the same "
        "browser on the same page (100 links and buttons); the ways take turns call by call. "
        f"Load average during it: {figures.load:.2f}.",
        "",
        f"Cold wake of a local child (`mcp.browser.launch`: Playwright's driver, Chromium, a "
        f"context; the first `navigate` to its snapshot): **{figures.wake_ms:,.0f} ms**.",
        "",
        f"| {figures.settings.rounds} calls each, median ms | through the tool | in its handler "
        "| Playwright | raw CDP |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {action} | {ways['tool'][action]:.1f} | {ways['handler'][action]:.1f} | "
            f"{ways['playwright'][action]:.1f} | {ways['raw'][action]:.1f} |"
            for action in ACTIONS
        ),
        "",
        f"The browser group's overhead over Playwright doing the same (handler − Playwright; "
        f"target < {OVERHEAD_TARGET_MS:g} ms): at most **{worst:+.1f} ms** "
        f"({'met' if worst < OVERHEAD_TARGET_MS else '**missed**'}); the MCP host and SDK "
        "client add the rest of 'through the tool'. Raw CDP clicks without Playwright's "
        "checks that the element is visible, stable and enabled, and its snapshot is the "
        "bare accessibility tree, not text with refs.",
        "",
        f"Model streams (/v1/messages, {STREAMS} clients, 200-chunk answers) with "
        f"{BROWSER_CLIENTS} MCP clients clicking and reading pages back to back, in turns of "
        f"{figures.settings.window:g} s ({len(figures.without)} each) (target >= "
        f"{RATIO_TARGET:g}x): **{ratio:.2f}x**, the median of the turns' ratios "
        f"{ratios_text(figures.without, figures.with_browser)} "
        f"({'met' if ratio >= RATIO_TARGET else '**missed**'}); events/s without "
        f"{', '.join(f'{v:,.0f}' for v in figures.without)}; with "
        f"{', '.join(f'{v:,.0f}' for v in figures.with_browser)}; browser calls/s during "
        f"{', '.join(f'{v:.1f}' for v in figures.actions_per_s)} (the daemon's default "
        f"`mcp.browser.busy_interval`: while model requests are in flight, actions start "
        f"{BrowserSettings().busy_interval:g} s apart over all sessions; the calls/s count the "
        "whole turn, the streams' start-up included, when no model request is in flight and "
        "the clients go unspaced).",
        "",
        f"The same at an agent's pace ({AGENT_PAUSE:g} s between a client's calls, the "
        f"model's turn between two tool calls): **{paced:.2f}x** (turns "
        f"{ratios_text(figures.paced_without, figures.paced_with)}) "
        f"({'met' if paced >= RATIO_TARGET else '**missed**'}); events/s without "
        f"{', '.join(f'{v:,.0f}' for v in figures.paced_without)}; with "
        f"{', '.join(f'{v:,.0f}' for v in figures.paced_with)}; browser calls/s during "
        f"{', '.join(f'{v:.1f}' for v in figures.paced_actions_per_s)}.",
        "",
        "Commands:",
        "",
        *(f"- {name}: `{command}`" for name, command in figures.commands.items()),
        "",
    ]
    return lines


def main() -> int:
    """``python -m bench.browser [--quick]``: this part alone, its section on stdout."""
    with tempfile.TemporaryDirectory(prefix="autosred-bench-browser-") as tmp:
        figures = measure(
            Path(tmp), quick="--quick" in sys.argv, progress=lambda m: print(m, file=sys.stderr)
        )
    print("\n".join(section(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
