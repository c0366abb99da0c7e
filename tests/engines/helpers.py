"""Helpers for the engine tests: real processes, real sockets, deadlines instead of sleeps."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp import web

HERE = Path(__file__).parent
CHILD_SERVER = HERE / "child_server.py"
LOGGER_NAME = "autosred.tests.engines"


def sim_command() -> list[str]:
    """The argv prefix of autosred-sim, the simulated vLLM (before --port and --model)."""
    return ["{python}", "-m", "autosred.sim"]


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The ``fields`` of every captured log record whose event name is ``name``."""
    return [
        dict(getattr(record, "fields", {}))
        for record in caplog.records
        if record.getMessage() == name
    ]


def output_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [str(fields["line"]) for fields in events(caplog, "engine.child_output")]


def is_gone(pid: int) -> bool:
    """True once ``pid`` is not a live process (missing, or a zombie nobody has reaped yet:
    in a container the init process may never reap an orphan)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    state = stat.rpartition(")")[2].split()[0]
    return state in {"Z", "X"}


async def wait_for(
    predicate: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def kill_if_alive(pid: int) -> None:
    """Last-resort clean-up so that a failing test leaves no process behind."""
    if not is_gone(pid):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


class Serve(Protocol):
    """The ``serve`` fixture: an aiohttp server on ``port`` whose /health answers ``status``."""

    async def __call__(self, port: int, *, status: int = 200) -> web.AppRunner: ...
