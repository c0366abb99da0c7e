"""The tool groups this daemon serves, one MCP server each at ``/mcp/<group.name>``.

The one place that knows the concrete groups: the daemon calls ``build_groups`` once at start
and mounts what it returns; the host knows only the ``ToolGroup`` interface. A group that is
disabled in the config is not built (its path answers 404, its tools are nowhere).
"""

from __future__ import annotations

from pathlib import Path

from autosred.config import McpSettings
from autosred.mcp.browser import BrowserTools
from autosred.mcp.capabilities import CapabilityTools
from autosred.mcp.fetch import FetchTools
from autosred.mcp.search import SearchTools
from autosred.mcp.tools import ToolGroup
from autosred.web.browser.workload import BrowserWorkload
from autosred.web.service import WebService


def build_groups(
    settings: McpSettings,
    *,
    admin_socket: Path | None,
    web: WebService | None = None,
    browser: BrowserWorkload | None = None,
) -> list[ToolGroup]:
    """The enabled groups, in the order their servers are listed. ``admin_socket``: where the
    capabilities group reaches the admin API (the socket autosrectl uses); None for the
    default path. ``web``: the daemon's one web service, which the search and fetch groups
    use (and the daemon closes); None: each builds its own. ``browser``: the daemon's
    browser workload (its profile lives under state_dir, which only the daemon knows),
    needed when ``mcp.browser`` is enabled; the browser group closes it."""
    groups: list[ToolGroup] = []
    # Each group adds its constructor here, guarded by its ``enabled`` setting, e.g.
    #   if settings.fetch.enabled: groups.append(FetchTools(settings.fetch, web=web))
    if settings.fetch.enabled:
        groups.append(FetchTools(settings.fetch, web=web))
    if settings.search.enabled:
        groups.append(SearchTools(settings.search, web=web))
    if settings.capabilities.enabled:
        groups.append(CapabilityTools(settings.capabilities, admin_socket=admin_socket))
    if settings.browser.enabled:
        if browser is None:
            raise ValueError("mcp.browser is enabled: build_groups needs the browser workload")
        groups.append(BrowserTools(settings.browser, workload=browser))
    return groups
