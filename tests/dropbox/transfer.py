"""What the put/get and attack tests share: autosrectl as a subprocess with its own cache
directory, the dropbox reached as the daemon's session describes it, polling with a deadline."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.daemon import Daemon

T = TypeVar("T")
CTL = [sys.executable, "-m", "autosred.ctl"]


@dataclass(frozen=True)
class Dropbox:
    """The dropbox of a running daemon, with autosrectl's session token (it sees every file)."""

    url: str
    token: str
    pem: str
    fingerprint: str

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.pem)

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            verify=self.context(),
            headers={"Authorization": f"Bearer {self.token}", **headers},
            timeout=30,
        )

    async def files(self) -> list[dict[str, Any]]:
        async with self.client() as client:
            response = await client.get("/files/?json")
        assert response.status_code == 200, response.text
        listed: list[dict[str, Any]] = response.json()
        return listed

    async def offset(self, upload: str) -> int:
        async with self.client(**{"Tus-Resumable": "1.0.0"}) as client:
            response = await client.head(httpx.URL(upload).path)
        assert response.status_code == 200, response.status_code
        return int(response.headers["Upload-Offset"])

    async def offset_now(self, upload: str) -> int:
        """The offset, 0 while the upload is not there yet."""
        async with self.client(**{"Tus-Resumable": "1.0.0"}) as client:
            response = await client.head(httpx.URL(upload).path)
        return int(response.headers.get("Upload-Offset", "0"))


async def dropbox_of(daemon: Daemon) -> Dropbox:
    status, session = await daemon.admin("POST", "/v1/dropbox/session", {})
    assert status == 200, session
    return Dropbox(
        url=session["url"],
        token=session["token"],
        pem=session["pem"],
        fingerprint=session["fingerprint"],
    )


def _env(extra: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSRE")}
    return {**inherited, **extra}


async def ctl_process(
    daemon: Daemon,
    env: dict[str, str],
    *args: str,
    stderr: int = asyncio.subprocess.PIPE,
    cwd: Path | None = None,
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CTL,
        "--socket",
        str(daemon.admin_socket),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=_env(env),
        cwd=cwd,
    )


async def ctl(
    daemon: Daemon, env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 120
) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``autosrectl --socket S ARGS``."""
    process = await ctl_process(daemon, env, *args, cwd=cwd)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def resume_urls(env: dict[str, str]) -> list[str]:
    """The upload URLs autosrectl keeps for unfinished puts (its cache directory's state)."""
    state = Path(env["XDG_CACHE_HOME"]) / "autosred" / "dropbox-uploads.json"
    try:
        uploads = json.loads(state.read_text())["uploads"]
    except (OSError, ValueError):
        return []
    return [entry["url"] for entry in uploads]


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], what: str, *, timeout: float = 30.0
) -> T:
    """Poll `probe` until it gives something other than None; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        await asyncio.sleep(0.005)


def polled(probe: Callable[[], T | None]) -> Callable[[], Awaitable[T | None]]:
    """A plain function as a probe for `wait_for`."""

    async def call() -> T | None:
        return probe()

    return call


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_terminal(master: int) -> bytes:
    """Everything written to a pty until its last writer closes it."""
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return data
        if not chunk:
            return data
        data += chunk
