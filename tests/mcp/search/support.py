"""Helpers the search tests share: the tool's handler as the host calls it, and ddgs settings
pointed at the local engines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from autosred.config import SearchSettings
from autosred.mcp.search import SearchTools
from autosred.mcp.tools import ToolResult
from tests.web.search.engines import EngineSite


@asynccontextmanager
async def search_tools(settings: SearchSettings, **options: Any) -> AsyncIterator[SearchTools]:
    """The search group for one test, closed (its engines' sessions with it) however it ends."""
    tools = SearchTools(settings, **options)
    try:
        yield tools
    finally:
        await tools.close()


async def call(tools: SearchTools, arguments: Mapping[str, Any]) -> ToolResult:
    """The ``search`` tool's handler, as the MCP host calls it."""
    (spec,) = tools.tools()
    return await spec.handler(arguments)


def ddgs_settings(site: EngineSite, **overrides: Any) -> SearchSettings:
    values: dict[str, Any] = {
        "backend": "ddgs",
        "ddgs_backends": ["duckduckgo"],
        "proxy": site.proxy_url,
        "ca_file": str(site.ca_file),
        "timeout": 5,
    }
    values.update(overrides)
    return SearchSettings.model_validate(values)
