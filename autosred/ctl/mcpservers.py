"""The daemon's MCP servers as the launched clients configure them.

The daemon reports the servers it serves (``Status.mcp``: name -> path on the api listener);
each becomes ``autosred-<name>`` in the client, so Claude Code lists its tools as
``mcp__autosred-fetch__fetch`` and Codex as ``autosred-fetch``'s ``fetch``. Which servers
exist is the daemon's to say (``mcp.<name>.enabled``); nothing here names a group.

The client token never goes on a command line (any local user can read another's argv):
Claude Code expands ``${VAR}`` in an MCP header from its environment, Codex reads the
variable named by ``bearer_token_env_var``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from autosred.admin.schema import Status

PREFIX = "autosred-"
NO_MCP = "--no-mcp"
"""autosrectl's own option after `claude`/`codex`: start the client without these servers."""


def server_urls(status: Status, api_url: str) -> dict[str, str]:
    """``autosred-<name>`` -> the server's URL on the api listener, sorted by name."""
    return {
        f"{PREFIX}{name}": f"{api_url}/{path.lstrip('/')}"
        for name, path in sorted(status.mcp.items())
    }


def without_no_mcp(client_args: Sequence[str]) -> tuple[list[str], bool]:
    """The client's arguments without autosrectl's ``--no-mcp``, and whether it was there.

    Only options are looked at (before a ``--``); after it every word is the prompt's."""
    args = list(client_args)
    end = args.index("--") if "--" in args else len(args)
    kept = [arg for arg in args[:end] if arg != NO_MCP]
    return [*kept, *args[end:]], len(kept) != end


def claude_config(urls: Mapping[str, str], *, token_env: str | None) -> str:
    """The JSON of Claude Code's ``--mcp-config``: Streamable HTTP servers, with the
    ``Authorization`` header taken from ``$token_env`` when a client token is in use."""
    servers: dict[str, dict[str, object]] = {}
    for name, url in urls.items():
        server: dict[str, object] = {"type": "http", "url": url}
        if token_env is not None:
            server["headers"] = {"Authorization": f"Bearer ${{{token_env}}}"}
        servers[name] = server
    return json.dumps({"mcpServers": servers}, separators=(",", ":"))


def codex_tables(urls: Mapping[str, str], *, token_env: str) -> dict[str, dict[str, str]]:
    """``[mcp_servers.autosred-<name>]`` tables of Codex's config.toml (Streamable HTTP,
    ``Authorization: Bearer $token_env``)."""
    return {name: {"url": url, "bearer_token_env_var": token_env} for name, url in urls.items()}
