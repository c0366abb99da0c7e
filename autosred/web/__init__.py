"""The web as the daemon's tools reach it: search backends (``search/``) and the guarded
fetch engine (``fetch/``), shared by the MCP tool groups (``autosred.mcp``) and the hosted
tools the proxy runs for its clients (``autosred.proxy``).

A library layer: it imports only ``autosred.config`` (and third-party packages), so that
both surfaces may import it; nothing here speaks MCP or an API surface's wire format.
"""
