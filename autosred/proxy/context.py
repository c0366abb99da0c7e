"""What every surface's handlers need, passed in once when the api app is built."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from autosred.config import ApiSettings
from autosred.metrics import Metrics
from autosred.scaler import ModelGate


@dataclass
class ProxyContext:
    gate: ModelGate
    metrics: Metrics
    settings: ApiSettings
    log: logging.Logger
    session: aiohttp.ClientSession | None = field(default=None)

    @property
    def upstream(self) -> aiohttp.ClientSession:
        """The pooled upstream session, open while the app runs (see make_api_app)."""
        assert self.session is not None, "upstream session used outside the app's lifetime"
        return self.session


PROXY: web.AppKey[ProxyContext] = web.AppKey("proxy", ProxyContext)
CLIENT_NAME_KEY = "autosred.client"
"""request[CLIENT_NAME_KEY]: the name of the client token used, or "-" without tokens."""
