"""Browser load, run in its own process:
``python -m bench.browserload MCP_URL PAGE_URL N [PAUSE]``.

``N`` MCP clients (the official SDK's, legacy sessions as Claude Code opens them, each its
own browser context) each open ``PAGE_URL`` once, then click its first button and read the
page, back to back, or with ``PAUSE`` seconds between a client's calls (an agent's pace: the
model takes its turn between two tool calls). It prints ``{"event": "running"}`` once every
client has had its first answer, keeps going until a line arrives on stdin, then prints
``{"event": "result", "calls": …, "errors": …, "seconds": …}`` (calls answered after
"running").
"""

from __future__ import annotations

import asyncio
import re
import sys
import time

from mcp import Client

from bench.mcpfetch import emit


async def run(mcp_url: str, page_url: str, clients: int, pause: float = 0.0) -> None:
    counts = {"calls": 0, "errors": 0, "ready": 0}
    everyone = asyncio.Event()
    measuring = False
    stop = asyncio.Event()

    async def client() -> None:
        async with Client(mcp_url, mode="legacy") as session:
            opened = await session.call_tool("navigate", {"url": page_url})
            text = opened.content[0].text  # type: ignore[union-attr]
            found = re.search(r'- button "[^"]*" \[ref=(\w+)\]', text)
            ref = found.group(1) if found else "e1"
            counts["ready"] += 1
            if counts["ready"] == clients:
                everyone.set()
            while not stop.is_set():
                for tool, arguments in (("click", {"ref": ref}), ("snapshot", {})):
                    result = await session.call_tool(tool, arguments)
                    if measuring:
                        counts["calls" if not result.is_error else "errors"] += 1
                    if pause:
                        await asyncio.sleep(pause)

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
    mcp_url, page_url, clients, *pause = argv
    asyncio.run(run(mcp_url, page_url, int(clients), float(pause[0]) if pause else 0.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
