"""Bearer tokens and share secrets: how they look, how they are made, how a header is read.

A secret is a recognisable prefix and 32 random bytes (256 bits) from `secrets`, as URL-safe
base64 without padding (43 characters), so it is safe in a header, a URL path and a shell.
The prefix tells a leaked string's kind at a glance (and lets secret scanners find it); only
the SHA-256 of a secret is ever kept on disk.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

TOKEN_PREFIX: Final = "asdt_"
"""A dropbox bearer token (``autosrectl dropbox token create``, and autosrectl's own)."""
SHARE_PREFIX: Final = "asds_"
"""A share link's secret (the last segment of ``https://HOST:PORT/s/SECRET``)."""

_SECRET_BYTES = 32
_BODY = r"[A-Za-z0-9_-]{43}"
_TOKEN_SHAPE = re.compile(re.escape(TOKEN_PREFIX) + _BODY)
_SHARE_SHAPE = re.compile(re.escape(SHARE_PREFIX) + _BODY)
# RFC 9110 §11.4: the scheme is case-insensitive and separated from its credentials by one or
# more spaces. Anything else around them (tabs, a second token, commas) is malformed.
_BEARER = re.compile(r"([A-Za-z]+) +(\S+)")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def new_share_secret() -> str:
    return SHARE_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def is_token(text: str) -> bool:
    return _TOKEN_SHAPE.fullmatch(text) is not None


def is_share_secret(text: str) -> bool:
    return _SHARE_SHAPE.fullmatch(text) is not None


def digest(secret: str) -> str:
    """The SHA-256 (hex) a secret is known by; only this is stored."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def bearer_of(authorization: str) -> str | None:
    """The token an ``Authorization`` value offers, or None when it is not a well-formed
    ``Bearer`` header carrying something shaped like a dropbox token."""
    match = _BEARER.fullmatch(authorization)
    if match is None or match.group(1).lower() != "bearer":
        return None
    token = match.group(2)
    return token if is_token(token) else None
