"""The ``fetch`` MCP tool group (``/mcp/fetch``): web pages for the model, as Markdown, in
pages of ``max_length`` characters (pages.py). The fetch itself (URL, SSRF guard, robots.txt,
GET, content, extraction) is the web layer's (``autosred.web.fetch``). See ``tool.py``."""

from autosred.mcp.fetch.tool import FetchTools

__all__ = ["FetchTools"]
