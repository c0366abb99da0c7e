"""The host's lifetime: sessions end at close, a call still running is answered (not cut),
the groups are closed once."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from autosred.clienttokens import ClientTokens
from autosred.config import McpSettings
from autosred.daemon.inflight import InFlight
from autosred.mcp.host import McpHost
from autosred.metrics import Metrics
from tests.mcp.host.support import EchoTools, Served, serve_host

ACCEPT = "application/json, text/event-stream"
VERSION = "2025-11-25"


async def post(
    session: aiohttp.ClientSession, served: Served, message: dict[str, Any], **headers: str
) -> tuple[int, dict[str, str], Any]:
    async with session.post(
        served.url(),
        data=json.dumps(message),
        headers={"Accept": ACCEPT, "Content-Type": "application/json", **headers},
    ) as response:
        text = await response.text()
        return response.status, dict(response.headers), json.loads(text) if text else None


async def open_session(session: aiohttp.ClientSession, served: Served) -> dict[str, str]:
    status, headers, _ = await post(
        session,
        served,
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": VERSION,
                "capabilities": {},
                "clientInfo": {"name": "lifetime-test", "version": "0"},
            },
        },
    )
    assert status == 200
    follow = {"Mcp-Session-Id": headers["mcp-session-id"], "MCP-Protocol-Version": VERSION}
    status, _, _ = await post(
        session, served, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **follow
    )
    assert status == 202
    return follow


class EchoToolsFailingClose(EchoTools):
    async def close(self) -> None:
        await super().close()
        raise OSError("the group's close failed")


WAIT_CALL = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "wait"}}


async def test_close_ends_the_sessions_and_answers_a_call_still_running() -> None:
    async with serve_host() as served, aiohttp.ClientSession() as session:
        follow = await open_session(session, served)
        call = asyncio.create_task(post(session, served, WAIT_CALL, **follow))
        await served.groups[0].waiting.wait()

        await served.host.close()

        status, _, body = await call
        assert status == 500
        assert body["error"]["message"] == "Session terminated before the request completed"
        assert served.groups[0].closed == 1
        assert len(served.records.named("mcp.stopped")) == 1
    # The app's cleanup closed the host again: nothing happens twice.
    assert served.groups[0].closed == 1
    assert len(served.records.named("mcp.stopped")) == 1


async def test_a_call_the_drain_ends_is_told_the_daemon_is_stopping() -> None:
    inflight = InFlight()
    async with serve_host(inflight=inflight) as served, aiohttp.ClientSession() as session:
        follow = await open_session(session, served)
        call = asyncio.create_task(post(session, served, WAIT_CALL, **follow))
        await served.groups[0].waiting.wait()
        assert len(inflight) == 1

        # The grace is over at once: the drain cancels the handler.
        cancelled = await inflight.drain(asyncio.get_running_loop().time(), cancel_wait=5)

        assert cancelled == 1
        status, _, body = await call
        assert status == 503
        assert body == {
            "jsonrpc": "2.0",
            "id": 7,
            "error": {
                "code": -32603,
                "message": "The daemon is stopping; call again once it is back.",
            },
        }


async def test_calls_that_finish_within_the_grace_are_answered() -> None:
    inflight = InFlight()
    async with serve_host(inflight=inflight) as served, aiohttp.ClientSession() as session:
        follow = await open_session(session, served)
        call = asyncio.create_task(post(session, served, WAIT_CALL, **follow))
        await served.groups[0].waiting.wait()
        drain = asyncio.create_task(
            inflight.drain(asyncio.get_running_loop().time() + 60, cancel_wait=5)
        )
        served.groups[0].release.set()
        assert await drain == 0
        status, _, body = await call
        assert status == 200
        assert body["result"]["content"] == [{"type": "text", "text": "released"}]


async def test_a_group_whose_close_fails_does_not_keep_the_others_open() -> None:
    failing, fine = EchoToolsFailingClose("first"), EchoTools("second")
    async with serve_host(groups=[failing, fine]) as served:
        pass
    assert fine.closed == 1
    (record,) = served.records.named("mcp.group_close_failed")
    assert record.exc_info is not None


@pytest.mark.parametrize("names", [["echo", "echo"], ["Echo"], ["a/b"], [""]])
def test_group_names_must_be_unique_path_segments(names: list[str]) -> None:
    with pytest.raises(ValueError, match="unique path segments"):
        McpHost(
            groups=[EchoTools(name) for name in names],
            settings=McpSettings(),
            tokens=ClientTokens([]),
            listen_hosts=["127.0.0.1"],
            metrics=Metrics(),
            log=logging.getLogger("test.mcp.names"),
        )
