"""The Anthropic Messages surface: a pure translation core to vLLM Chat Completions.

Request side: ``to_chat_request`` / ``serialise`` (request.py), ``to_tokenize_request``
(count.py); ``clamp_max_tokens`` / ``estimate_prompt_tokens`` are the shared proxy/prompt.py.
Response side: ``MessageStreamTranslator`` (stream.py, ``feed``/``close`` -> ``Event``),
``message_from_completion`` and ``message_from_events`` (message.py).
Errors: ``AnthropicError``, ``map_upstream_error`` (errors.py) of an ``UpstreamError``
(proxy/upstream.py, shared by the surfaces).
Thinking signatures: ``ThinkingSigner`` (signature.py).

HTTP (the api app mounts it): handler.py (``/v1/messages`` through the request flow,
proxy/flow.py, and ``/v1/messages/count_tokens``), models.py (``/v1/models`` in the Anthropic
shape), respond.py (errors of what the daemon itself refuses).
"""

from autosred.proxy.anthropic.count import count_tokens_response, to_tokenize_request
from autosred.proxy.anthropic.errors import (
    AnthropicError,
    map_upstream_error,
    rewrite_context_overflow,
)
from autosred.proxy.anthropic.events import Event, encode_events, new_message_id
from autosred.proxy.anthropic.message import message_from_completion, message_from_events
from autosred.proxy.anthropic.request import (
    ChatRequest,
    serialise,
    to_chat_request,
)
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.stream import MessageStreamTranslator
from autosred.proxy.anthropic.toolids import client_tool_id, upstream_tool_id
from autosred.proxy.modelview import ModelView
from autosred.proxy.prompt import clamp_max_tokens, estimate_prompt_tokens
from autosred.proxy.upstream import UpstreamError

__all__ = [
    "AnthropicError",
    "ChatRequest",
    "Event",
    "MessageStreamTranslator",
    "ModelView",
    "ThinkingSigner",
    "UpstreamError",
    "clamp_max_tokens",
    "client_tool_id",
    "count_tokens_response",
    "encode_events",
    "estimate_prompt_tokens",
    "map_upstream_error",
    "message_from_completion",
    "message_from_events",
    "new_message_id",
    "rewrite_context_overflow",
    "serialise",
    "to_chat_request",
    "to_tokenize_request",
    "upstream_tool_id",
]
