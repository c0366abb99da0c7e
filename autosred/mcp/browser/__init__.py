"""The ``browser`` MCP tool group (``/mcp/browser``): a headless Chromium acted on through
accessibility snapshots with element refs. The tools and their arguments are group.py,
what the model reads render.py; the browser itself (the workload, the contexts, the guard
proxy) is the web layer's (``autosred.web.browser``)."""

from autosred.mcp.browser.group import BrowserTools

__all__ = ["BrowserTools"]
