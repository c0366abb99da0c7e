"""``encrypted_content`` of hosted tool results: what the model read, sealed by the daemon.

Anthropic returns each web search result with an opaque ``encrypted_content`` that the client
sends back with the history, so the model sees the result again on the next turn without the
client being able to read or change it. The daemon does the same: the text the model read
(a result's snippet) is encrypted and authenticated (AES-GCM) under a key derived from the
daemon's persistent secret (state_dir, daemon/keys.py), bound to the result's URL, and opened
when the history comes back. Content this daemon did not seal (the vendor's, or tampered) does
not open and is left out of the prompt; the result's title and URL, which the client sees
anyway, are kept. Under a new daemon key old content no longer opens, which is as safe.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "asrh1."
_DOMAIN = b"autosred/hosted/encrypted_content/v1"
_NONCE = 12
_MAX_TEXT = 1024 * 1024  # a decompression bomb stops here


class ContentSealer:
    """Seals result text into ``encrypted_content`` and opens it again."""

    __slots__ = ("_aead",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the hosted content key must be at least 16 bytes")
        # A key of its own: the same daemon secret signs thinking blocks and seals reasoning.
        self._aead = AESGCM(hmac.new(secret, _DOMAIN, hashlib.sha256).digest())

    def seal(self, text: str, *, bound_to: str) -> str:
        """``text`` sealed; it opens only with the same ``bound_to`` (the result's URL)."""
        nonce = os.urandom(_NONCE)
        payload = zlib.compress(text.encode("utf-8", "surrogatepass"), 6)
        sealed = self._aead.encrypt(nonce, payload, bound_to.encode("utf-8", "surrogatepass"))
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def open(self, token: object, *, bound_to: str) -> str | None:
        """The text sealed in ``token`` for ``bound_to``; None when this daemon did not seal
        it (or for another URL)."""
        if not isinstance(token, str) or not token.startswith(_PREFIX):
            return None
        body = token[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if len(raw) <= _NONCE:
                return None
            payload = self._aead.decrypt(
                raw[:_NONCE], raw[_NONCE:], bound_to.encode("utf-8", "surrogatepass")
            )
            inflater = zlib.decompressobj()
            text = inflater.decompress(payload, _MAX_TEXT)
            if inflater.unconsumed_tail:
                return None
            return text.decode("utf-8", "surrogatepass")
        except (binascii.Error, ValueError, InvalidTag, zlib.error):
            return None
