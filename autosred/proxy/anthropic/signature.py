"""Thinking-block signatures the daemon can verify when the block comes back in history.

Claude Code drops thinking blocks without a signature from stored history, so every thinking
block gets one; it is an HMAC-SHA256 over the thinking text under a daemon key.

Policy when a thinking block comes back (see ``request.py``): its text is forwarded upstream as
the assistant message's ``reasoning`` only when the signature verifies. A missing, foreign
(e.g. a real Anthropic signature after a backend switch) or forged signature means the text is
not known to be this daemon's model output, so it is dropped rather than injected into the
prompt as the model's own reasoning. Dropping is safe: chat templates already omit reasoning of
older turns, and the visible text and tool calls of that turn are kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_PREFIX = "asr1."
_DOMAIN = b"autosred/anthropic/thinking/v1\x00"


class ThinkingSigner:
    """Signs and verifies thinking text with a daemon secret (at least 16 bytes)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the thinking signature key must be at least 16 bytes")
        self._key = key

    def _mac(self, thinking: str) -> str:
        digest = hmac.new(
            self._key, _DOMAIN + thinking.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, thinking: str) -> str:
        """A non-empty opaque signature for ``thinking`` (also for the empty string)."""
        return _PREFIX + self._mac(thinking)

    def verify(self, thinking: str, signature: object) -> bool:
        """True when ``signature`` is this daemon's signature of exactly ``thinking``."""
        if not isinstance(signature, str) or not signature.startswith(_PREFIX):
            return False
        return hmac.compare_digest(signature[len(_PREFIX) :], self._mac(thinking))
