"""Attacks on the TCP listeners from outside, over raw sockets: heads dripped a byte at a
time, connections left idle, one address opening too many, malformed requests and running
the daemon out of descriptors. Each is bounded and costs the log a line per interval."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ctl import autosrectl
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

HEADER_TIMEOUT = 1.0
IDLE_TIMEOUT = 3.0
LISTENERS = ("api", "codex", "metrics")


def guarded_config(tmp_path: Path, **connections: Any) -> dict[str, Any]:
    limits = {"header_timeout": HEADER_TIMEOUT, "idle_timeout": IDLE_TIMEOUT, **connections}
    return base_config(tmp_path, [sim_recipe()], connections=limits)


def address(daemon: Daemon, listener: str) -> tuple[str, int]:
    host, _, port = daemon.listeners[listener].rpartition(":")
    return host, int(port)


@contextlib.asynccontextmanager
async def raw_connection(
    daemon: Daemon, listener: str = "api"
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(*address(daemon, listener))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def drip_until_closed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, every: float, limit: float
) -> tuple[float, bytes]:
    """Send a head one byte at a time until the daemon closes the connection; seconds it
    took and what the daemon answered. Fails after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    answer = asyncio.create_task(reader.read())
    async with asyncio.timeout(limit):
        while not answer.done():
            with contextlib.suppress(ConnectionError):
                writer.write(b"X")
            await asyncio.wait({answer}, timeout=every)
    return loop.time() - started, answer.result()


async def read_or_reset(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        return b""


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.parametrize("listener", LISTENERS)
async def test_a_dripped_head_is_cut_at_the_header_deadline(tmp_path: Path, listener: str) -> None:
    async with running_daemon(tmp_path, guarded_config(tmp_path)) as daemon:
        connections = [raw_connection(daemon, listener) for _ in range(20)]
        async with contextlib.AsyncExitStack() as stack:
            pairs = [await stack.enter_async_context(c) for c in connections]
            results = await asyncio.gather(
                *(drip_until_closed(r, w, every=0.2, limit=15) for r, w in pairs)
            )
        for elapsed, answer in results:
            # Cut after the header deadline, though bytes kept coming (well before the
            # idle deadline, which a dripping client would otherwise stretch to).
            assert HEADER_TIMEOUT - 0.1 <= elapsed < IDLE_TIMEOUT, elapsed
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        timeouts = daemon.events_named("http.header_timeout")
        # 20 connections cut within a second or so: one line, the rest counted later.
        assert len(timeouts) == 1, timeouts
        assert timeouts[0]["level"] == "info" and timeouts[0]["listener"] in {"api", "metrics"}
        # A complete head is not held to the deadline: the daemon still answers.
        async with raw_connection(daemon, listener) as (reader, writer):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 ")


async def test_the_408_reaches_a_client_still_sending(tmp_path: Path) -> None:
    # A client writing without pause: bytes arrive after the 408. Closing with them unread
    # would answer with a reset, which can destroy the 408 before the client reads it; the
    # daemon lingers, dropping them, so every client gets its 408 and a clean end.
    async with running_daemon(tmp_path, guarded_config(tmp_path)) as daemon:
        connections = [raw_connection(daemon) for _ in range(20)]
        async with contextlib.AsyncExitStack() as stack:
            pairs = [await stack.enter_async_context(c) for c in connections]
            results = await asyncio.gather(
                *(drip_until_closed(r, w, every=0.005, limit=15) for r, w in pairs)
            )
        for _, answer in results:
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer


async def test_an_idle_connection_is_closed_at_the_idle_deadline(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, guarded_config(tmp_path)) as daemon:
        loop = asyncio.get_running_loop()
        async with (
            raw_connection(daemon) as (silent_reader, _),
            raw_connection(daemon) as (
                reader,
                writer,
            ),
        ):
            started = loop.time()
            # One connection says nothing; the other completes a request, then falls silent.
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200")
            silent, after_request = await asyncio.wait_for(
                asyncio.gather(silent_reader.read(), reader.read()), IDLE_TIMEOUT + 10
            )
            elapsed = loop.time() - started
        assert silent == b""
        assert b"HTTP/1.1" not in after_request  # the body of the 200, then the close
        assert elapsed >= IDLE_TIMEOUT - 0.1, elapsed


async def test_one_address_gets_at_most_max_per_peer_connections(tmp_path: Path) -> None:
    config = guarded_config(tmp_path, max_per_peer=5, idle_timeout=60)
    async with running_daemon(tmp_path, config) as daemon:
        async with contextlib.AsyncExitStack() as stack:
            held = [await stack.enter_async_context(raw_connection(daemon)) for _ in range(5)]
            # The sixth is closed at once, with nothing said (a reset when the request was
            # already in its buffer); api and codex count together.
            for listener in ("api", "codex"):
                async with raw_connection(daemon, listener) as (reader, writer):
                    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    assert await read_or_reset(reader) == b""
            # The five held ones are served.
            reader, writer = held[0]
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200")
            # The metrics listener has its own count.
            async with raw_connection(daemon, "metrics") as (reader, writer):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
        # Once they are closed, the address may connect again.
        async with raw_connection(daemon) as (reader, writer):
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
        refused = daemon.events_named("http.peer_limit")
        assert len(refused) == 1 and refused[0]["peer"] == "127.0.0.1"
        assert refused[0]["limit"] == 5


MALFORMED = {
    "bad request line": b"GET\x00/ HTTP/1.1\r\n\r\n",
    "header without colon": b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    "bad method": b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad version": b"GET / HTTP/9.9x\r\nHost: x\r\n\r\n",
    "bad content length": b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "line too long": b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
}


async def test_a_malformed_request_is_one_info_line(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, guarded_config(tmp_path)) as daemon:
        for raw in MALFORMED.values():
            async with raw_connection(daemon) as (reader, writer):
                writer.write(raw)
                answer = await asyncio.wait_for(reader.read(), 10)
                assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), (raw[:40], answer[:80])
        lines = daemon.log_path.read_text().splitlines()
        bad = daemon.events_named("http.bad_request")
        # The first is logged; the others within the interval are counted, not logged.
        assert len(bad) == 1 and bad[0]["level"] == "info", bad
        assert bad[0]["status"] == 400 and "\n" not in bad[0]["reason"]
        assert not [line for line in lines if "Traceback" in line or '"level": "error"' in line]


async def test_running_out_of_descriptors_is_logged_once_and_the_admin_socket_recovers(
    tmp_path: Path,
) -> None:
    config = guarded_config(tmp_path, max_per_peer=10_000, idle_timeout=60, header_timeout=60)
    async with running_daemon(tmp_path, config) as daemon:
        pid = daemon.process.pid
        # A few descriptors to spare, set on the running daemon from outside.
        limit = fd_count(pid) + 16
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3 * limit):
                await stack.enter_async_context(raw_connection(daemon))
            async with asyncio.timeout(20):
                while not daemon.events_named("daemon.descriptors_exhausted"):
                    await asyncio.sleep(0.1)
            # The daemon keeps failing to accept while the flood is held: asyncio retries
            # every listener each second. Hold it for a few retries.
            seen = daemon.log_path.stat().st_size
            await asyncio.sleep(3)  # the flood lasting, not a synchronisation
            grown = daemon.log_path.stat().st_size - seen
        exhausted = daemon.events_named("daemon.descriptors_exhausted")
        assert len(exhausted) == 1, exhausted
        assert exhausted[0]["open_files_limit"] == limit
        assert grown < 2_000, f"the log grew {grown} bytes in 3 s of exhaustion"
        # The flood has stopped: the operator's tool answers again.
        code, out, err = await autosrectl(
            "--socket", str(daemon.admin_socket), "status", "--json", timeout=30
        )
        assert code == 0, err
        assert '"sim"' in out
        lines = daemon.log_path.read_text().splitlines()
        assert not [line for line in lines if "Traceback" in line]
