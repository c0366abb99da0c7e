"""The search backend the settings name."""

from __future__ import annotations

import logging

from autosred.config import SearchSettings
from autosred.web.search.backend import SearchBackend
from autosred.web.search.ddgs_backend import DdgsBackend
from autosred.web.search.searxng import SearxngBackend


def build_backend(settings: SearchSettings, *, log: logging.Logger) -> SearchBackend:
    """The backend ``mcp.search.backend`` names, configured from the rest of the section."""
    ca_file = str(settings.ca_file) if settings.ca_file else None
    if settings.backend == "searxng":
        if not settings.searxng_url:  # the settings refuse this; kept for the type checker
            raise ValueError("backend 'searxng' needs searxng_url")
        return SearxngBackend(settings.searxng_url, timeout=settings.timeout, ca_file=ca_file)
    return DdgsBackend(
        settings.ddgs_backends,
        timeout=settings.timeout,
        proxy=settings.proxy,
        ca_file=ca_file,
        log=log,
    )
