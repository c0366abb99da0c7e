"""Fetch load, run in its own process: ``python -m bench.mcpfetch MCP_URL PAGE_URL N``.

``N`` MCP clients (the official SDK's, legacy sessions as Claude Code opens them) each call
``fetch(PAGE_URL)`` back to back. It prints ``{"event": "running"}`` once every client has
had its first answer, keeps going until a line arrives on stdin, then prints
``{"event": "result", "calls": …, "errors": …, "seconds": …}`` (calls answered after
"running").
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from mcp import Client


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def run(mcp_url: str, page_url: str, clients: int) -> None:
    counts = {"calls": 0, "errors": 0, "first": 0}
    everyone = asyncio.Event()
    measuring = False
    stop = asyncio.Event()

    async def client() -> None:
        nonlocal measuring
        first = True
        async with Client(mcp_url, mode="legacy") as session:
            while not stop.is_set():
                result = await session.call_tool("fetch", {"url": page_url})
                if measuring:
                    counts["calls" if not result.is_error else "errors"] += 1
                if first:
                    first = False
                    counts["first"] += 1
                    if counts["first"] == clients:
                        everyone.set()

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await everyone.wait()
    measuring = True
    started = time.perf_counter()
    emit("running")
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    seconds = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    emit("result", calls=counts["calls"], errors=counts["errors"], seconds=seconds)


def main(argv: list[str]) -> int:
    mcp_url, page_url, clients = argv
    asyncio.run(run(mcp_url, page_url, int(clients)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
