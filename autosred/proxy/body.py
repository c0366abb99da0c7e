"""Reading a client's JSON body with errors a surface can put in its own envelope."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from autosred.proxy.fastjson import parse_document

_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
"""How a surrogate gets into a JSON body: a ``\\uD800``-``\\uDFFF`` escape, or its UTF-8 form
(invalid UTF-8, but json.loads decodes bytes with "surrogatepass")."""
_SURROGATE = re.compile("[\ud800-\udfff]")

CLOSE_AFTER_ANSWER_KEY = "autosred.close_after_answer"
"""request[CLOSE_AFTER_ANSWER_KEY]: the connection cannot serve another request."""


class BadRequest(Exception):
    """The client's request cannot be served as sent; ``status`` is 400, 404 or 413."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param


async def read_json_object(request: web.Request) -> tuple[dict[str, Any], bytes]:
    """The body as a JSON object, and its raw bytes; BadRequest otherwise."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise BadRequest(f"request body is too large: {exc.text}", status=413) from exc
    except RequestPayloadError as exc:
        # A corrupt gzip/deflate body: what is left of it cannot be read either, so the
        # connection ends with the answer (no lingering read of the rest).
        request.content.feed_eof()
        request[CLOSE_AFTER_ANSWER_KEY] = True
        raise BadRequest(f"request body could not be read: {exc}") from None
    if not raw:
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        body = parse_document(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, not {type(body).__name__}")
    if _SURROGATE_BYTES.search(raw) and _has_lone_surrogate(body):
        # Python's json accepts half a surrogate pair; no model server can encode it back
        # (vLLM's parser refuses it, a reply quoting it cannot be written as UTF-8).
        raise BadRequest("request body is not valid JSON: a string holds half a surrogate pair")
    return body, raw


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any key or string in ``value`` holds a surrogate code point (json.loads joins
    a valid pair into one character, so what is left is half a pair)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def required_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise BadRequest("'model' is required", param="model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' must be a non-empty string", param="model")
    return model
