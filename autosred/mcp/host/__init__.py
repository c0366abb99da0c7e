"""The MCP host: the tool groups served over Streamable HTTP on the api listener."""

from autosred.mcp.host.host import McpHost

__all__ = ["McpHost"]
