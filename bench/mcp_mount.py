"""`python -m bench.mcp_mount`: how to mount the MCP SDK's Streamable HTTP entry on aiohttp.

The SDK speaks ASGI; the daemon is aiohttp. Two ways, measured side by side in one run:

- ``bridge``: the daemon's own bridge, the SDK's session manager driven from an aiohttp
  handler (``autosred.mcp.host.asgi.AsgiExchange``), the body read by the handler;
- ``aiohttp-asgi``: the aiohttp-asgi package's ``ASGIResource`` in the router
  (``pip install aiohttp-asgi==0.7.1`` first; it is not a dependency of autosred);
- ``host``: for reference, the whole host as the daemon mounts it (the bridge plus the
  Host/Origin/token guard, metrics and the ``mcp.call`` log line).

Each server runs in its own process with the same tool (``echo``) behind the same
``StreamableHTTPSessionManager(json_response=True)``, all at once; the client opens one
session (initialize) with each, on a keep-alive connection of its own, then sends
``tools/call`` to each in turn, ``--calls`` times, so that a busy machine weighs on all of
them alike; ``--rounds`` rounds, fresh servers each. Reported: the round trip per call
(median and p90, in the client) and each server process's CPU per call (user+system from
/proc, over the calls only; the lowest round). Compare within one run. Then, because timings
on a shared machine swing by tens of percent either way, a count that does not: the Python
function calls each server makes per ``tools/call`` (cProfile, a run with 500 calls less a
run without).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from autosred.clienttokens import ClientTokens
from autosred.config import McpSettings
from autosred.mcp.host import McpHost
from autosred.mcp.host.asgi import AsgiExchange
from autosred.mcp.host.calls import CallLog
from autosred.mcp.host.server import tool_server
from autosred.mcp.tools import ToolResult, ToolSpec
from autosred.metrics import Metrics
from bench.procinfo import cpu_seconds
from bench.stats import median, percentile

KINDS = ("bridge", "aiohttp-asgi", "host")
PROTOCOL = "2025-11-25"


class _Echo:
    name = "echo"

    def tools(self) -> Sequence[ToolSpec]:
        return [
            ToolSpec(
                name="echo",
                description="Returns its text.",
                input_schema={"type": "object", "properties": {"text": {"type": "string"}}},
                handler=self._echo,
            )
        ]

    async def close(self) -> None:
        return None

    async def _echo(self, arguments: Mapping[str, Any]) -> ToolResult:
        return ToolResult(str(arguments.get("text", "")))


# ------------------------------------------------------------------------------ servers


async def _serve(kind: str, port_file: Path) -> None:
    log = logging.getLogger("bench.mcp")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    metrics = Metrics()
    app = web.Application()
    manager: StreamableHTTPSessionManager | None = None
    host: McpHost | None = None
    if kind == "host":
        host = McpHost(
            groups=[_Echo()],
            settings=McpSettings(),
            tokens=ClientTokens([]),
            listen_hosts=["127.0.0.1"],
            metrics=metrics,
            log=log,
        )
        app.middlewares.append(host.middleware)
        app.cleanup_ctx.append(host.lifespan)
    else:
        server = tool_server(_Echo(), calls=CallLog(metrics=metrics, log=log), log=log)
        manager = StreamableHTTPSessionManager(server, json_response=True)
        if kind == "bridge":
            asgi = manager.handle_request

            async def handle(request: web.Request) -> web.StreamResponse:
                body = await request.read()
                return await AsgiExchange(request, body, state={}).run(asgi)

            app.router.add_route("*", "/mcp/echo", handle)
        else:
            resource_type = importlib.import_module("aiohttp_asgi").ASGIResource
            app.router.register_resource(resource_type(manager.handle_request, "/mcp/echo"))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server_ = site._server
    assert server_ is not None
    port = server_.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        if manager is not None:
            await stack.enter_async_context(manager.run())
        await asyncio.to_thread(port_file.write_text, str(port))
        await stop.wait()
    await runner.cleanup()


# ------------------------------------------------------------------------------- client


class _Session:
    """One MCP session with one server, on its own keep-alive connection."""

    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self._http = http
        self._url = f"http://127.0.0.1:{port}/mcp/echo"
        self._headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        self._id = 0

    async def open(self) -> None:
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"},
            },
        }
        async with self._http.post(self._url, json=init, headers=self._headers) as response:
            assert response.status == 200, await response.text()
            session_id = response.headers["mcp-session-id"]
            await response.read()
        self._headers.update({"Mcp-Session-Id": session_id, "MCP-Protocol-Version": PROTOCOL})
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        async with self._http.post(self._url, json=note, headers=self._headers) as response:
            assert response.status == 202, response.status

    async def call(self) -> float:
        self._id += 1
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": self._id,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "x" * 64}},
            }
        )
        started = time.perf_counter()
        async with self._http.post(self._url, data=body, headers=self._headers) as response:
            answer = await response.json()
        elapsed = time.perf_counter() - started
        assert answer["result"]["content"][0]["text"] == "x" * 64, answer
        return elapsed


async def _measure(
    servers: Mapping[str, tuple[int, int]], calls: int
) -> dict[str, tuple[list[float], float]]:
    """``servers``: kind -> (pid, port). One call to each in turn, so that whatever else
    the machine does falls on all of them alike."""
    results: dict[str, tuple[list[float], float]] = {}
    https = {kind: aiohttp.ClientSession() for kind in servers}
    try:
        sessions = {kind: _Session(https[kind], port) for kind, (_, port) in servers.items()}
        for session in sessions.values():
            await session.open()
        for _ in range(50):  # warm-up
            for session in sessions.values():
                await session.call()
        cpu_before = {kind: cpu_seconds(pid) for kind, (pid, _) in servers.items()}
        times: dict[str, list[float]] = {kind: [] for kind in servers}
        for _ in range(calls):
            for kind, session in sessions.items():
                times[kind].append(await session.call())
        for kind, (pid, _) in servers.items():
            results[kind] = (times[kind], cpu_seconds(pid) - cpu_before[kind])
    finally:
        for http in https.values():
            await http.close()
    return results


def _start(
    kind: str, workdir: Path, *, profile: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port_file = workdir / f"{kind}.port"
    port_file.unlink(missing_ok=True)
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    process = subprocess.Popen(
        [
            sys.executable,
            *profiler,
            "-m",
            "bench.mcp_mount",
            "--serve",
            kind,
            "--port-file",
            str(port_file),
        ]
    )
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {kind} server did not start")
        time.sleep(0.05)
    return process, int(port_file.read_text())


def _function_calls(kinds: Sequence[str], calls: int, workdir: Path) -> dict[str, float]:
    """Python function calls per ``tools/call`` in each server (cProfile's count, with and
    without the calls, subtracted): unlike time, the same on a busy machine as on a quiet
    one, so it compares the mounts where the timings are lost in noise."""
    counts: dict[str, list[int]] = {kind: [] for kind in kinds}
    for made in (0, calls):
        for kind in kinds:
            profile = workdir / f"{kind}.prof"
            process, port = _start(kind, workdir, profile=profile)
            try:
                if made:
                    asyncio.run(_measure({kind: (process.pid, port)}, made))
                else:
                    asyncio.run(_measure({kind: (process.pid, port)}, 0))
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
            counts[kind].append(pstats.Stats(str(profile)).total_calls)  # type: ignore[attr-defined]
    return {kind: (after - before) / calls for kind, (before, after) in counts.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=KINDS)
    parser.add_argument("--port-file", type=Path)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve, args.port_file))
        return 0
    kinds = list(KINDS)
    try:
        importlib.import_module("aiohttp_asgi")
    except ImportError:
        print("aiohttp-asgi is not installed: measuring the bridge alone", file=sys.stderr)
        kinds.remove("aiohttp-asgi")
    results: dict[str, list[tuple[list[float], float]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            processes = {kind: _start(kind, Path(tmp)) for kind in kinds}
            try:
                measured = asyncio.run(
                    _measure(
                        {kind: (process.pid, port) for kind, (process, port) in processes.items()},
                        args.calls,
                    )
                )
            finally:
                for process, _ in processes.values():
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=30)
            for kind, result in measured.items():
                results[kind].append(result)
    print(f"{args.calls} tools/call per round, {args.rounds} rounds, load {os.getloadavg()[0]:.2f}")
    print("| mount | round trip median (ms) | p90 (ms) | server CPU per call (µs) |")
    print("| --- | ---: | ---: | ---: |")
    for kind in kinds:
        times = [t for run, _ in results[kind] for t in run]
        cpu = min(cpu for _, cpu in results[kind]) / args.calls
        print(
            f"| {kind} | {median(times) * 1000:.2f} | {percentile(times, 90) * 1000:.2f} "
            f"| {cpu * 1e6:.0f} |"
        )
    with tempfile.TemporaryDirectory() as tmp:
        per_call = _function_calls(kinds, min(args.calls, 500), Path(tmp))
    print()
    print("| mount | Python function calls per tools/call |")
    print("| --- | ---: |")
    for kind in kinds:
        print(f"| {kind} | {per_call[kind]:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
