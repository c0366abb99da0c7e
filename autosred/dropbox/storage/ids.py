"""Upload and file ids: random, opaque, and checked by shape before any path is built."""

from __future__ import annotations

import re
import secrets

# 24 random bytes (192 bits) as URL-safe base64 without padding: exactly 32 characters.
_ID_BYTES = 24
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")


def new_id() -> str:
    """Never starting with "-": an id is typed as a command's argument (`autosrectl dropbox
    get ID`), where a leading dash reads as an option. Drawing again keeps it uniform over
    the ids left (about 191.98 bits)."""
    while True:
        drawn = secrets.token_urlsafe(_ID_BYTES)
        if not drawn.startswith("-"):
            return drawn


def is_id(text: str) -> bool:
    """True when text has the exact shape of an id (so it is a single, safe path component)."""
    return _ID_SHAPE.fullmatch(text) is not None
