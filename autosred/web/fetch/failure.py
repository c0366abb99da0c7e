"""Why a fetch produced no page: one exception base with a kind, for every caller.

Every failure of a fetch is a :class:`FetchFailure`: its text is a sentence for the model
(what happened, what to do next), its ``kind`` what a caller that speaks another vocabulary
maps (the hosted ``web_fetch`` tool's error codes). The kind is decided where the failure is
raised, since only there is it known (a refused scheme and an unparseable URL are both a bad
URL; a timeout, an HTTP status and a too large body all stop the same GET).
"""

from __future__ import annotations

from enum import Enum


class FetchFailureKind(Enum):
    INVALID_URL = "invalid_url"
    """The URL cannot be read: no parse, too long, a control character, a host that is no
    valid name or address."""
    URL_NOT_ALLOWED = "url_not_allowed"
    """The URL is well formed but may not be fetched: not http(s), credentials in it, an
    address the SSRF guard refuses (for the URL or a redirect hop), robots.txt disallows it
    or its site refuses robots.txt (401/403), or the caller's own host check refused a hop."""
    URL_NOT_ACCESSIBLE = "url_not_accessible"
    """The site answered, but not with the page: an HTTP 4xx (or other non-2xx that is no
    server error), a redirect loop, a host name that does not resolve."""
    UNAVAILABLE = "unavailable"
    """Nothing usable came back for a reason that may pass: no connection, a TLS failure, an
    HTTP 5xx, a robots.txt that could not be read, the extraction worker stopped."""
    TOO_LARGE = "too_large"
    """The body is over ``mcp.fetch.max_bytes`` (declared or as it streamed)."""
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    """A body that is not HTML, JSON or text (or binary with no type)."""
    TIMEOUT = "timeout"
    """The fetch took longer than ``mcp.fetch.timeout``, redirects and robots.txt included."""


class FetchFailure(Exception):
    """A fetch that did not produce a page. ``str(failure)`` (also ``message``) is a
    sentence for the model; ``kind`` says what happened, for callers that map it."""

    def __init__(self, message: str, *, kind: FetchFailureKind) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def message(self) -> str:
        return str(self)
