"""Running one autosrectl command for a tool call, exactly as ``autosrectl --json`` would.

The command's own function runs with a Context whose output is a buffer and whose `json` is
on, so a tool answers what the CLI prints, through the same admin API client over the daemon's
Unix socket. That client blocks, and the daemon answers the socket on its own event loop, so
the command runs on a worker thread: the group's own few, because a `scale --wait` holds one
for as long as the wake takes, and the loop's default pool is shared with everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autosred.ctl.client import DaemonError, Unreachable
from autosred.ctl.commands import EXIT_OK, Context, Failed
from autosred.ctl.main import PROG, resolve_handler
from autosred.mcp.tools import ToolResult

WORKERS = 8
"""Commands running at once; more wait their turn."""


class CommandRunner:
    """Runs commands against one admin socket."""

    def __init__(self, socket: Path, *, workers: int = WORKERS) -> None:
        self.socket = socket
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mcp-capabilities")

    async def run(self, handler: str, args: argparse.Namespace) -> ToolResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, handler, args)

    def close(self) -> None:
        """Drop the calls still waiting; one running ends when its admin call does (a
        `scale --wait` with the wake: the daemon bounds it by the recipe's wake budget)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, handler: str, args: argparse.Namespace) -> ToolResult:
        out, err = io.StringIO(), io.StringIO()
        context = Context(socket=self.socket, json=True, out=out, err=err)
        try:
            status = resolve_handler(handler)(args, context)
        except (Unreachable, DaemonError, Failed) as exc:
            # The CLI's own error line, as `autosrectl` prints it before exiting 1 or 3.
            return ToolResult.error(_joined(out.getvalue(), f"{PROG}: {exc}"))
        text = _joined(out.getvalue(), err.getvalue())
        if status != EXIT_OK:
            # A command that reports failure by its exit status (`drift --exit-code`).
            return ToolResult.error(_joined(text, f"{PROG}: exit status {status}"))
        return ToolResult(text)


def _joined(*parts: str) -> str:
    return "\n".join(part.rstrip("\n") for part in parts if part.strip())
