"""TLS to the dropbox with its certificate pinned twice: the only trust anchor is the PEM the
daemon gave over its admin socket, and the peer's certificate must hash to the fingerprint
that came with it.

The fingerprint is checked inside the handshake (an SSLSocket whose ``do_handshake`` ends
with the check), so a peer that fails it never sees a byte of HTTP, bearer token included.
The host name is not checked: the trusted set is one exact certificate, which says more than
any name in it, and the address a client uses (127.0.0.1, a tunnel, the host's name) need not
be among the names the daemon put in its self-signed certificate.
"""

from __future__ import annotations

import hashlib
import ssl


class FingerprintMismatch(ssl.SSLCertVerificationError):
    """The peer's certificate is not the one the daemon said its dropbox serves."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(
            f"the dropbox's certificate has fingerprint {got}, the daemon said {expected}"
        )
        self.expected = expected
        self.got = got


def colon_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as the admin API writes it: upper-case hex pairs, colons."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalise_fingerprint(text: str) -> str:
    """A fingerprint with or without colons, any case, in the admin API's spelling."""
    digits = text.replace(":", "").strip().upper()
    if len(digits) != 64 or any(c not in "0123456789ABCDEF" for c in digits):
        raise ValueError(f"not a SHA-256 fingerprint: {text!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


class _PinnedSocket(ssl.SSLSocket):
    """Finishes every handshake by comparing the peer certificate with the pinned one."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        context = self.context
        assert isinstance(context, PinnedContext)
        der = self.getpeercert(binary_form=True)
        got = colon_fingerprint(der) if der else "(none)"
        if got != context.fingerprint:
            raise FingerprintMismatch(context.fingerprint, got)


class PinnedContext(ssl.SSLContext):
    """A client context for one dropbox: build it with `pinned_context`."""

    sslsocket_class = _PinnedSocket
    fingerprint: str


def pinned_context(pem: str, fingerprint: str) -> PinnedContext:
    """TLS 1.2 or later, the daemon's certificate the only trust anchor, its fingerprint checked.

    PARTIAL_CHAIN lets a configured certificate that is not self-signed (one a real CA issued)
    be the anchor on its own; by default OpenSSL wants a chain up to a self-signed root.
    """
    context = PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.fingerprint = normalise_fingerprint(fingerprint)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=pem)
    context.set_alpn_protocols(["http/1.1"])
    return context


def mismatch_in(exc: BaseException) -> FingerprintMismatch | None:
    """The fingerprint failure behind an HTTP library's connect error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, FingerprintMismatch):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
