"""Serving the admin app on a real Unix socket inside the test's event loop."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from autosred.admin.app import make_app, serve_unix

from .fake_control import FakeControl, FakeModel

LOG = logging.getLogger("tests.admin")


@dataclass(frozen=True)
class Served:
    path: Path
    control: FakeControl
    runner: web.AppRunner


def sample_models() -> list[FakeModel]:
    """qwen: stopped, wakes fine; small: ready and busy; broken: its wake fails."""
    small = FakeModel("small")
    small.status = dataclasses.replace(
        small.status,
        state="ready",
        in_flight=2,
        held=1,
        last_wake_seconds=41.2,
        idle_in_seconds=250.0,
    )
    return [FakeModel("qwen"), small, FakeModel("broken", fail_at="pulling image")]


@asynccontextmanager
async def short_dir() -> AsyncIterator[Path]:
    """A directory with a short path: a Unix socket path must fit in 108 bytes, and pytest's
    tmp_path for a long test name does not. 0755 so that a test's unprivileged child can reach
    the socket and meet the socket's own mode (what the tests are about)."""
    path = Path(tempfile.mkdtemp(prefix="asd-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@asynccontextmanager
async def serve(
    control: FakeControl,
    *,
    allowed_group: str | None = None,
    group: str | None = None,
    log: logging.Logger = LOG,
) -> AsyncIterator[Served]:
    async with short_dir() as directory:
        app = make_app(control=control, allowed_group=allowed_group, log=log)
        path = directory / "run" / "admin.sock"
        runner = await serve_unix(app, path, group=group, log=log)
        try:
            yield Served(path=path, control=control, runner=runner)
        finally:
            await runner.cleanup()
