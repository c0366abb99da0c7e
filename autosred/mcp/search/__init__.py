"""The ``search`` MCP tool group (``/mcp/search``): the ``search`` tool's arguments, its
Markdown rendering (render.py) and what it tells the model about a failure (group.py). The
backends and the per-minute limit are the web layer's (``autosred.web.search``)."""

from autosred.mcp.search.group import SearchTools

__all__ = ["SearchTools"]
