"""The ``fetch`` MCP tool group (``/mcp/fetch``): web pages for the model, as Markdown,
behind an SSRF guard. See ``tool.py``."""

from autosred.mcp.fetch.tool import FetchTools

__all__ = ["FetchTools"]
