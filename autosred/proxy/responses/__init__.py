"""The OpenAI Responses surface (Codex): a pure translation core to vLLM Chat Completions.

Request side: ``to_chat_request`` / ``serialise`` (request.py) over the input-item mapping of
history.py; ``ModelView`` (proxy/modelview.py, shared) says what the served model takes.
Response side: ``ResponsesStreamTranslator`` (stream.py, ``feed``/``close`` -> ``Event``); its
``response()`` is the response object of ``response.completed`` and of non-streaming replies.
Errors: ``ResponsesError``, ``map_upstream_error`` (errors.py) of an ``UpstreamError``.
Reasoning round trip: ``ReasoningSealer`` (reasoning.py). ``previous_response_id``:
``ResponseStore`` (store.py). HTTP: handler.py (the surface's adapter to proxy/flow.py).
"""

from autosred.proxy.modelview import ModelView
from autosred.proxy.responses.errors import ResponsesError, map_upstream_error
from autosred.proxy.responses.events import Event, encode_events
from autosred.proxy.responses.reasoning import ReasoningSealer
from autosred.proxy.responses.request import (
    ResponsesRequest,
    ToolTarget,
    serialise,
    to_chat_request,
)
from autosred.proxy.responses.store import ResponseStore
from autosred.proxy.responses.stream import ResponsesStreamTranslator, unwrap_custom_input
from autosred.proxy.upstream import UpstreamError

__all__ = [
    "Event",
    "ModelView",
    "ReasoningSealer",
    "ResponseStore",
    "ResponsesError",
    "ResponsesRequest",
    "ResponsesStreamTranslator",
    "ToolTarget",
    "UpstreamError",
    "encode_events",
    "map_upstream_error",
    "serialise",
    "to_chat_request",
    "unwrap_custom_input",
]
