"""What the host records of each tool call: the metrics and one ``mcp.call`` log event."""

from __future__ import annotations

import logging
from typing import Literal

from autosred.metrics import Metrics

Outcome = Literal["ok", "tool_error", "crashed", "unknown_tool"]

UNKNOWN_TOOL_LABEL = "-"
"""The tool label of a call naming no tool: names a client makes up must not become series."""


class CallLog:
    def __init__(self, *, metrics: Metrics, log: logging.Logger) -> None:
        self._metrics = metrics
        self._log = log

    def finished(
        self, *, server: str, tool: str, outcome: Outcome, seconds: float, client: str
    ) -> None:
        self._metrics.mcp_calls.labels(server, tool, outcome).inc()
        self._metrics.mcp_call_duration.labels(server, tool).observe(seconds)
        self._log.info(
            "mcp.call",
            extra={
                "fields": {
                    "server": server,
                    "tool": tool,
                    "outcome": outcome,
                    "duration_ms": round(seconds * 1000, 1),
                    "client": client,
                }
            },
        )

    def unknown_tool(self, *, server: str, name: str, client: str) -> None:
        self._metrics.mcp_calls.labels(server, UNKNOWN_TOOL_LABEL, "unknown_tool").inc()
        self._log.info(
            "mcp.call",
            extra={
                "fields": {
                    "server": server,
                    "tool": name[:200],
                    "outcome": "unknown_tool",
                    "duration_ms": 0.0,
                    "client": client,
                }
            },
        )

    def refused(self, reason: str) -> None:
        self._metrics.mcp_refused.labels(reason).inc()
