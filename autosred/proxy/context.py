"""What every surface's handlers need, passed in once when the api app is built."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from autosred.config import ApiSettings
from autosred.metrics import Metrics
from autosred.proxy.modelinfo import ModelInfo
from autosred.proxy.requestlog import RequestLog
from autosred.proxy.streamclient import UpstreamClient
from autosred.scaler import ModelGate


@dataclass
class ProxyContext:
    gate: ModelGate
    metrics: Metrics
    settings: ApiSettings
    log: logging.Logger
    model_info: ModelInfo
    """Context lengths and token counts of the model servers (cached per endpoint)."""
    keepalive_interval: float = 10.0
    """Seconds between keep-alives while a stream waits for its first token
    (``scaler.keepalive_interval``)."""
    requests: RequestLog = field(default_factory=RequestLog)
    """The recent requests, for the admin API's watchers (the daemon's own, passed in)."""
    session: aiohttp.ClientSession | None = field(default=None)
    relay_client: UpstreamClient | None = field(default=None)

    @property
    def upstream(self) -> aiohttp.ClientSession:
        """The pooled upstream session, open while the app runs (see make_api_app): the
        model server's small answers (``/v1/models``, ``/tokenize``)."""
        assert self.session is not None, "upstream session used outside the app's lifetime"
        return self.session

    @property
    def stream_client(self) -> UpstreamClient:
        """The relay's own client (streamclient.py), open while the app runs: every relayed
        request, its answer read as it comes."""
        assert self.relay_client is not None, "relay client used outside the app's lifetime"
        return self.relay_client


PROXY: web.AppKey[ProxyContext] = web.AppKey("proxy", ProxyContext)
CLIENT_NAME_KEY = "autosred.client"
"""request[CLIENT_NAME_KEY]: the name of the client token used, or "-" without tokens."""
TRUSTED_KEY = "autosred.trusted"
"""request[TRUSTED_KEY]: whether the client may learn what this daemon serves: it offered a
valid token, or none are configured (then the api listener is bound to loopback only)."""
REQUEST_ID_KEY = "autosred.request_id"
"""request[REQUEST_ID_KEY]: this request's id, sent back in the ``request-id`` header, in error
envelopes, and upstream as ``X-Request-Id`` (vLLM logs it), so one id follows a request."""


def new_request_id() -> str:
    """``req_`` and 24 hex digits: the shape of Anthropic's request ids."""
    return "req_" + secrets.token_hex(12)


def request_id(request: web.Request) -> str:
    """The id the api app gave ``request`` on arrival (a fresh one outside that app)."""
    value = request.get(REQUEST_ID_KEY)
    if not isinstance(value, str):
        value = new_request_id()
        request[REQUEST_ID_KEY] = value
    return value
