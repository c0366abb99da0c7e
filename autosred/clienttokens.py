"""The api listener's client tokens (``api.clients``): who may use the model APIs and /mcp.

One source of truth for both HTTP surfaces on the api listener (the proxy and the MCP host),
which may not import each other. The daemon keeps only each token's SHA-256; a request
offers its token as ``Authorization: Bearer`` or ``x-api-key`` (Claude Code may send both),
and the digests are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Protocol


class TokenEntry(Protocol):
    """One configured client (``config.ClientToken`` fits; config is a sibling layer)."""

    @property
    def name(self) -> str: ...
    @property
    def token_sha256(self) -> str: ...


class ClientTokens:
    """The configured tokens; ``required`` is False when none are (loopback only)."""

    def __init__(self, clients: Iterable[TokenEntry]) -> None:
        self._digests = {client.token_sha256.lower(): client.name for client in clients}

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def match(self, headers: Mapping[str, str]) -> str | None:
        """The name of the client whose token the headers offer, or None."""
        offered = []
        authorization = headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            offered.append(authorization[7:].strip())
        api_key = headers.get("x-api-key")
        if api_key is not None:
            offered.append(api_key.strip())
        for token in offered:
            # aiohttp keeps undecodable header bytes as surrogates: hash them back to the bytes.
            digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
            for known, name in self._digests.items():
                if hmac.compare_digest(digest, known):
                    return name
        return None
