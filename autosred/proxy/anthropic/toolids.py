"""Tool-call ids: vLLM's ids <-> the ``toolu_…`` ids Claude Code sees, without any state.

The client id encodes the upstream id, so the next turn maps back to exactly the id the model
produced (some templates render ids, e.g. Kimi's ``functions.Bash:0``, Mistral's 9-char ids).
Ids the daemon did not mint (a real Anthropic session, a client's own) pass through verbatim.
"""

from __future__ import annotations

import base64
import binascii
import re

_PLAIN = "toolu_asr_p"  # followed by the upstream id itself (already [A-Za-z0-9_-])
_B64 = "toolu_asr_b"  # followed by base64url(upstream id) for ids with other characters
_SERVER = "srvtoolu_"
_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def client_tool_id(upstream_id: str) -> str:
    """The ``toolu_…`` id for vLLM's tool-call id (pure, reversible)."""
    if _SAFE.fullmatch(upstream_id):
        return _PLAIN + upstream_id
    encoded = base64.urlsafe_b64encode(upstream_id.encode("utf-8", "surrogatepass"))
    return _B64 + encoded.rstrip(b"=").decode("ascii")


def server_tool_id(upstream_id: str) -> str:
    """The ``srvtoolu_…`` id of a hosted tool call (a ``server_tool_use`` block), as
    reversible as ``client_tool_id``."""
    return _SERVER + client_tool_id(upstream_id).removeprefix("toolu_")


def upstream_tool_id(client_id: str) -> str:
    """The id to send upstream for a ``tool_use.id`` / ``tool_result.tool_use_id`` (or a
    ``server_tool_use.id`` / ``*_tool_result.tool_use_id``)."""
    if client_id.startswith(_SERVER + "asr_"):
        mapped = upstream_tool_id("toolu_" + client_id.removeprefix(_SERVER))
        return client_id if mapped.startswith("toolu_") else mapped
    if client_id.startswith(_PLAIN) and _SAFE.fullmatch(client_id, len(_PLAIN)):
        return client_id[len(_PLAIN) :]
    if client_id.startswith(_B64) and len(client_id) > len(_B64):
        payload = client_id[len(_B64) :]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            return client_id
        # Only an id this module minted decodes back to itself; anything else is foreign.
        return decoded if client_tool_id(decoded) == client_id else client_id
    return client_id
