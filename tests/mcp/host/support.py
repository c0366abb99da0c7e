"""A small tool group and the MCP host on a real socket, for host-level tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from autosred.clienttokens import ClientTokens
from autosred.config import ClientToken, McpSettings
from autosred.daemon.inflight import InFlight
from autosred.mcp.host import McpHost
from autosred.mcp.tools import ToolResult, ToolSpec, parse_arguments, schema_of
from autosred.metrics import Metrics


class EchoArgs(BaseModel):
    text: str


class EchoTools:
    """``echo`` (read-only), ``refuse`` (a tool error), ``crash`` (raises), ``wait`` (until
    the test releases it)."""

    def __init__(self, name: str = "echo") -> None:
        self._name = name
        self.closed = 0
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    def tools(self) -> Sequence[ToolSpec]:
        return [
            ToolSpec(
                name="echo",
                description="Returns the text it is given.",
                input_schema=schema_of(EchoArgs),
                handler=self._echo,
                read_only=True,
                title="Echo",
            ),
            ToolSpec(
                name="refuse",
                description="Always answers with a tool error.",
                input_schema={"type": "object", "properties": {}},
                handler=self._refuse,
                read_only=False,
            ),
            ToolSpec(
                name="crash",
                description="Raises (a bug in a tool).",
                input_schema={"type": "object", "properties": {}},
                handler=self._crash,
            ),
            ToolSpec(
                name="wait",
                description="Answers once the test releases it.",
                input_schema={"type": "object", "properties": {}},
                handler=self._wait,
            ),
        ]

    async def close(self) -> None:
        self.closed += 1

    async def _echo(self, arguments: Mapping[str, Any]) -> ToolResult:
        args = parse_arguments(EchoArgs, arguments)
        if isinstance(args, ToolResult):
            return args
        return ToolResult(args.text)

    async def _refuse(self, arguments: Mapping[str, Any]) -> ToolResult:
        return ToolResult.error("Refused, as always. Try echo instead.")

    async def _crash(self, arguments: Mapping[str, Any]) -> ToolResult:
        raise RuntimeError("the tool's own bug")

    async def _wait(self, arguments: Mapping[str, Any]) -> ToolResult:
        self.waiting.set()
        await self.release.wait()
        return ToolResult("released")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def named(self, event: str) -> list[logging.LogRecord]:
        return [record for record in self.records if record.getMessage() == event]

    @staticmethod
    def fields(record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = getattr(record, "fields", {})
        return fields


@dataclass
class Served:
    base: str
    """``http://127.0.0.1:PORT``"""
    port: int
    host: McpHost
    metrics: Metrics
    records: Records
    groups: list[EchoTools] = field(default_factory=list)

    def url(self, name: str = "echo") -> str:
        return f"{self.base}/mcp/{name}"

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


def token_entry(name: str, token: str) -> ClientToken:
    import hashlib

    return ClientToken(name=name, token_sha256=hashlib.sha256(token.encode()).hexdigest())


@asynccontextmanager
async def serve_host(
    *,
    groups: Sequence[EchoTools] | None = None,
    clients: Sequence[ClientToken] = (),
    settings: McpSettings | None = None,
    bind: str = "127.0.0.1",
    inflight: InFlight | None = None,
) -> AsyncIterator[Served]:
    """The host's middleware on an app whose only other route is ``GET /other``, on a real
    socket; the host is started and closed with the app, as in the daemon."""
    groups = list(groups) if groups is not None else [EchoTools()]
    metrics = Metrics()
    records = Records()
    log = logging.getLogger(f"test.mcp.{id(records)}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(records)
    host = McpHost(
        groups=groups,
        settings=settings or McpSettings(),
        tokens=ClientTokens(clients),
        listen_hosts=[bind],
        metrics=metrics,
        log=log,
    )

    async def other(request: web.Request) -> web.Response:
        return web.Response(text="not mcp")

    app = web.Application(middlewares=[host.middleware])
    if inflight is not None:  # as the daemon mounts it: the drain sees every request
        app.middlewares.insert(0, inflight.middleware)
    app.router.add_get("/other", other)
    app.cleanup_ctx.append(host.lifespan)
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, bind, 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    authority = f"[{bind}]" if ":" in bind else bind
    try:
        yield Served(f"http://{authority}:{port}", port, host, metrics, records, list(groups))
    finally:
        await runner.cleanup()
