"""``encrypted_content`` of reasoning items: the model's reasoning, sealed by the daemon.

Codex sends ``store: false`` and ``include: ["reasoning.encrypted_content"]``: it keeps the
reasoning items of a session and sends them back on every turn, and the chat templates of
interleaved-thinking models need the reasoning of tool-call turns back (docs/conformance.md,
case 77). The daemon therefore hands out the reasoning text, compressed and authenticated with a
key derived from the daemon's persistent secret (state_dir, daemon/keys.py), and decodes it on
the next turn.

Policy (as for Anthropic thinking signatures): only content this daemon sealed becomes
``reasoning`` again; foreign (e.g. real OpenAI) or tampered content is dropped, never injected
into the prompt as the model's own reasoning. Under a new daemon key old content no longer
opens, which is safe: the turn's text and tool calls are kept.

Not confidential: the text was already shown to the client as the reasoning summary.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib

_PREFIX = "asr1."
_DOMAIN = b"autosred/responses/reasoning/v1"
_MAC_BYTES = 18
_MAX_TEXT = 16 * 1024 * 1024  # a decompression bomb stops here


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ReasoningSealer:
    """Seals reasoning text into ``encrypted_content`` and opens it again."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the reasoning key must be at least 16 bytes")
        # A key of its own: the same daemon secret also signs Anthropic thinking blocks.
        self._key = hmac.new(secret, _DOMAIN, hashlib.sha256).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def seal(self, reasoning: str) -> str:
        payload = zlib.compress(reasoning.encode("utf-8", "surrogatepass"), 6)
        return _PREFIX + _b64(payload) + "." + _b64(self._mac(payload))

    def open(self, token: object) -> str | None:
        """The reasoning sealed in ``token``; None when this daemon did not seal it."""
        if not isinstance(token, str) or not token.startswith(_PREFIX):
            return None
        body, dot, mac = token[len(_PREFIX) :].partition(".")
        if not dot:
            return None
        try:
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                return None
            inflater = zlib.decompressobj()
            raw = inflater.decompress(payload, _MAX_TEXT)
            if inflater.unconsumed_tail:
                return None
            return raw.decode("utf-8", "surrogatepass")
        except (binascii.Error, ValueError, zlib.error):
            return None
