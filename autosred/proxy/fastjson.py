"""JSON on the hot path: every upstream chunk is parsed here and every event payload that is
not a pre-formatted template is encoded here; so are the client's request body
(``parse_document``) and the body sent upstream (``encode_document``).

msgspec's C codec reads bytes as they come off the socket (no ``bytes.decode`` first) and is
about three times faster than the standard library on vLLM's small chunks. It is strict
RFC 8259; the few inputs it refuses that the standard library reads (a lone surrogate escape
such as ``"\\ud800"``, ``NaN``, a number beyond a double, white space outside JSON's four) take
the standard library's path, so what parses is exactly what parsed before. Encoding falls back
the same way for strings UTF-8 cannot carry (lone surrogates: a model server may send one as
an escape; client bodies holding one are refused, proxy/body.py), which become ``?``.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_raw_decode = json.JSONDecoder().raw_decode
_stdlib_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def parse_chunk(payload: bytes) -> object:
    """The JSON value of one SSE ``data`` payload (white space around it allowed); None when
    it is not one JSON value."""
    try:
        return _decode(payload)
    except (msgspec.DecodeError, RecursionError):
        return _parse_stdlib(payload)


def _parse_stdlib(payload: bytes) -> object:
    try:
        text = payload.decode().strip()
        value, end = _raw_decode(text)
    except (ValueError, RecursionError):  # JSON or UTF-8 errors, nesting too deep
        return None
    return value if end == len(text) else None


def parse_document(raw: bytes) -> Any:
    """A whole JSON document (a client's request body) as ``json.loads`` reads it, and what it
    refuses raising what it raises (ValueError, RecursionError): msgspec reads what it can,
    the standard library the rest (NaN, a lone surrogate, a byte-order mark, UTF-16, …).
    Nesting is bounded by the interpreter's recursion limit in both, within a level or two."""
    try:
        return _decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return json.loads(raw)


def encode_document(value: Any) -> bytes | None:
    """``value`` as compact UTF-8 JSON when msgspec can write it as the standard library
    would (the same JSON value; a float may be spelt differently, ``1e16`` for ``1e+16``);
    None when the standard library must decide: msgspec refused it, or its output holds
    ``null``, which is how msgspec writes NaN and the infinities that the standard library
    refuses (so a body with a real ``null`` takes the slower path, to the same bytes)."""
    try:
        encoded = _encode(value)
    except (TypeError, ValueError, OverflowError, RecursionError):  # UnicodeEncodeError too
        return None
    return None if b"null" in encoded else encoded


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON (non-ASCII unescaped, as the vendors' APIs send it)."""
    try:
        return _encode(value)
    except UnicodeEncodeError:
        # "replace": lone surrogates, which UTF-8 cannot carry, become "?".
        return _stdlib_encode(value).encode("utf-8", "replace")


def dumps_str(value: Any) -> str:
    """``dumps`` as text, for frames assembled as ``str``."""
    try:
        return _encode(value).decode()
    except UnicodeEncodeError:
        return _stdlib_encode(value)
