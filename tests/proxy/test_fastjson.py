"""proxy/fastjson.py: the hot path's JSON reads and writes what the standard library would."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autosred.proxy.fastjson import (
    dumps,
    dumps_str,
    encode_document,
    parse_chunk,
    parse_document,
)
from tests.proxy.strategies import json_values

REFERENCE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, NaN equal to itself."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(json_values)
def test_parses_what_the_standard_library_parses(value: Any) -> None:
    payload = json.dumps(value).encode()
    assert same(parse_chunk(payload), json.loads(payload))
    payload = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        expected = json.loads(payload.decode())
    except UnicodeDecodeError:
        expected = None  # a lone surrogate written raw is not UTF-8
    assert same(parse_chunk(payload), expected)


def test_a_vllm_chunk() -> None:
    payload = (
        b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"h\\u00e9 \xe6\x97\xa5"},"logprobs":null,'
        b'"finish_reason":null}],"usage":{"prompt_tokens":36,"completion_tokens":1}}'
    )
    chunk = parse_chunk(payload)
    assert chunk == json.loads(payload)
    assert isinstance(chunk, dict)
    assert chunk["choices"][0]["delta"]["content"] == "hé 日"


def test_what_only_the_standard_library_reads_still_parses() -> None:
    # msgspec is strict RFC 8259; these parsed before it came and still do.
    assert parse_chunk(b'{"a":"\\ud800"}') == {"a": "\ud800"}
    assert parse_chunk(b'{"a":1e400}') == {"a": math.inf}
    value = parse_chunk(b'{"a":NaN}')
    assert isinstance(value, dict) and math.isnan(value["a"])
    assert parse_chunk(b'\x0c {"a":1} \x0b') == {"a": 1}
    assert parse_chunk(b' \r\n{"a":1}\t ') == {"a": 1}


def test_what_is_not_one_json_value_is_none() -> None:
    for payload in (
        b"",
        b"   ",
        b'{"a":1}x',
        b'{"a":1}{"b":2}',
        b'{"a":"\xff"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":',
        b"data: {}",
    ):
        assert parse_chunk(payload) is None, payload[:20]


@given(json_values)
def test_dumps_is_json_the_standard_library_reads_back(value: Any) -> None:
    encoded = dumps(value)
    assert dumps_str(value) == encoded.decode()
    assert b"\n" not in encoded  # one SSE data line
    expected = json.loads(REFERENCE(value).encode("utf-8", "replace"))
    if any(isinstance(leaf, float) and not math.isfinite(leaf) for leaf in leaves(value)):
        return  # NaN/Infinity are not JSON: msgspec writes null, the standard library NaN
    assert same(json.loads(encoded), expected)


def leaves(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    return [value]


@given(st.text())
def test_strings_encode_as_the_standard_library_does(text: str) -> None:
    value = {"type": "x", "text": text}
    assert dumps(value) == REFERENCE(value).encode("utf-8", "replace")


def test_lone_surrogates_become_question_marks() -> None:
    assert dumps({"a": "x\ud800y"}) == b'{"a":"x?y"}'
    assert dumps_str("x\udfff") == '"x\udfff"'  # encoded to bytes (and replaced) by the frame


def _loads_or_error(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", json.loads(raw)
    except RecursionError:
        return "error", RecursionError
    except ValueError:
        return "error", ValueError


def _document_or_error(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", parse_document(raw)
    except RecursionError:
        return "error", RecursionError
    except ValueError:
        return "error", ValueError


def _same_reading(raw: bytes) -> None:
    (kind, value), (expected_kind, expected) = _document_or_error(raw), _loads_or_error(raw)
    assert kind == expected_kind, raw[:80]
    assert same(value, expected) if kind == "value" else value is expected, raw[:80]


@given(json_values, st.sampled_from(["ascii", "utf-8", "utf-16", "bom", "spaced"]))
def test_a_document_reads_as_the_standard_library_reads_it(value: Any, form: str) -> None:
    if form == "ascii":
        raw = json.dumps(value).encode()
    elif form == "utf-16":
        raw = json.dumps(value, ensure_ascii=False).encode("utf-16", "surrogatepass")
    else:
        raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
        if form == "bom":
            raw = b"\xef\xbb\xbf" + raw
        elif form == "spaced":
            raw = b" \r\n\t" + raw + b"\n "
    _same_reading(raw)


@given(st.binary(max_size=64))
def test_any_bytes_read_as_the_standard_library_reads_them(raw: bytes) -> None:
    _same_reading(raw)


@given(json_values, st.data())
def test_a_mangled_document_reads_as_the_standard_library_reads_it(
    value: Any, data: st.DataObject
) -> None:
    raw = bytearray(json.dumps({"model": "m", "v": value}, ensure_ascii=False).encode())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at : at + 1] = data.draw(st.binary(max_size=3))
    _same_reading(bytes(raw))


def test_what_only_the_standard_library_reads_in_a_document() -> None:
    assert parse_document(b'{"a":"\\ud800"}') == {"a": "\ud800"}
    assert parse_document(b'{"a":"\xed\xa0\x80"}') == {"a": "\ud800"}  # surrogatepass
    assert parse_document(b'{"a":1e400}') == {"a": math.inf}
    assert parse_document(b"\xef\xbb\xbf{}") == {}
    for raw, error in (
        (b"[" * 100_000 + b"]" * 100_000, RecursionError),
        (b'{"a":"\xff"}', ValueError),
        (b"{}x", ValueError),
        (b"", ValueError),
    ):
        with pytest.raises(error):
            parse_document(raw)


@given(json_values)
def test_an_encoded_document_is_what_the_standard_library_writes(value: Any) -> None:
    encoded = encode_document(value)
    try:
        reference = json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        assert encoded is None  # NaN, an infinity, a lone surrogate: the standard library's
        return
    if encoded is not None:
        assert same(json.loads(encoded), json.loads(reference))
    else:
        assert b"null" in reference  # the one case left to the standard library on purpose


def test_nan_and_infinity_are_left_to_the_standard_library() -> None:
    for value in (math.nan, math.inf, -math.inf):
        assert encode_document({"temperature": value}) is None
    assert encode_document({"stop": None}) is None
    assert encode_document({"model": "m", "n": 1e16}) == b'{"model":"m","n":1e16}'
