"""The `capabilities` MCP tool group: autosrectl's own commands as tools (see group.py)."""

from autosred.mcp.capabilities.group import CapabilityTools

__all__ = ["CapabilityTools"]
