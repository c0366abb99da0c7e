"""The HTTP client to model servers: one pooled aiohttp session, streamed, never buffered."""

from __future__ import annotations

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


UPSTREAM_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError)
