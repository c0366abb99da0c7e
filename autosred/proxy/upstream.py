"""The HTTP client to model servers (one pooled aiohttp session, streamed, never buffered), and
the surface-neutral description of what went wrong talking to one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from autosred.config import ApiSettings


def make_session(settings: ApiSettings) -> aiohttp.ClientSession:
    """A session for long generations: no total timeout (a 20-minute answer is legitimate),
    a bounded connect, and a read timeout that only fires when the server stays silent."""
    timeout = aiohttp.ClientTimeout(
        total=None,
        sock_connect=settings.upstream_connect_timeout,
        sock_read=settings.upstream_read_timeout,
    )
    connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True)
    # auto_decompress off: we relay the upstream's bytes as they are.
    return aiohttp.ClientSession(
        timeout=timeout, connector=connector, auto_decompress=False, raise_for_status=False
    )


UPSTREAM_CONNECT_ERRORS = (
    aiohttp.ClientConnectorError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ConnectionTimeoutError,
)
"""Raised before any response byte: the server is down, restarting, or dropped the connection."""

UpstreamFailure = Literal["http", "connect", "timeout", "closed", "protocol", "aborted"]


@dataclass(frozen=True, slots=True)
class UpstreamError:
    """What went wrong talking to a model server, as the (I/O-owning) handler saw it; each
    surface maps it onto its own error vocabulary.

    kind: ``http`` a non-2xx reply (``status`` and ``body`` set) or an in-band ``{"error":…}``
    chunk; ``connect`` refused/unreachable/connect timeout; ``timeout`` a read timeout after
    connecting; ``closed`` the stream ended early; ``protocol`` unparseable bytes; ``aborted``
    the server aborted the request.
    """

    kind: UpstreamFailure
    status: int | None = None
    body: Any = None
    detail: str = ""
