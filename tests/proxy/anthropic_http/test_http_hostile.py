"""Hostile input from outside (raw sockets against the real daemon): no answer is a 500 or a
traceback; each is a 4xx in the envelope of the surface the client speaks."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import pytest

from tests.proxy.anthropic_http.support import TOKEN, Api, body

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def raw_request(api: Api, head: bytes, payload: bytes = b"") -> tuple[int, Any]:
    """Send one HTTP/1.1 request as bytes; the status and the JSON body of the answer."""
    host, port = api.daemon.listeners["api"].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()  # the daemon closes after each of these answers
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, content = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in headers.lower():
        content = _unchunk(content)
    return int(status_line.split()[1]), json.loads(content)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


def head(path: str, *headers: bytes) -> bytes:
    lines = [b"POST " + path.encode() + b" HTTP/1.1", b"Host: daemon", b"Connection: close"]
    return b"\r\n".join([*lines, *headers]) + b"\r\n"


async def test_a_non_utf8_byte_in_the_token_is_a_401_in_the_envelope(api: Api) -> None:
    payload = json.dumps(body()).encode()
    anthropic = head("/v1/messages", b"x-api-key: tok-\xff\xfe", b"anthropic-version: 2023-06-01")
    status, answer = await raw_request(api, anthropic, payload)
    assert status == 401
    assert answer["type"] == "error" and answer["error"]["type"] == "authentication_error"
    openai = head("/v1/chat/completions", b"Authorization: Bearer \xc3\x28")
    status, answer = await raw_request(api, openai, payload)
    assert status == 401 and answer["error"]["type"] == "authentication_error"
    assert "Traceback" not in api.daemon.log_path.read_text()


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
@pytest.mark.parametrize(
    "path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/responses", "/v1/chat/completions"]
)
async def test_a_corrupt_compressed_body_is_a_400_in_the_envelope(
    api: Api, path: str, encoding: bytes
) -> None:
    corrupt = gzip.compress(json.dumps(body()).encode())[:20] + b"\x00garbage" * 8
    request = head(
        path,
        b"x-api-key: " + TOKEN.encode(),
        b"Authorization: Bearer " + TOKEN.encode(),
        b"Content-Type: application/json",
        b"Content-Encoding: " + encoding,
    )
    status, answer = await raw_request(api, request, corrupt)
    assert status == 400, answer
    if path.startswith("/v1/messages"):
        assert answer["type"] == "error"
        assert answer["error"]["type"] == "invalid_request_error"
    else:
        assert answer["error"]["type"] == "invalid_request_error"
    assert "Traceback" not in api.daemon.log_path.read_text()


@pytest.mark.parametrize(
    ("path", "messages"),
    [
        ("/v1/messages", b'"max_tokens":8,"messages"'),
        ("/v1/chat/completions", b'"max_tokens":8,"messages"'),
        ("/v1/responses", b'"input"'),
    ],
)
async def test_half_a_surrogate_pair_is_a_400_in_the_envelope(
    api: Api, path: str, messages: bytes
) -> None:
    """Python's json reads "\\ud800" as a string no model server can encode back: refused,
    as Anthropic's and OpenAI's APIs refuse it; a whole pair is fine."""
    content = b'[{"role":"user","content":"half a pair: \\ud800"}]'
    if path == "/v1/responses":
        content = b'"half a pair: \\ud800"'
    # "sim-alias" names the sim recipe by an alias: the body is re-encoded with the served name.
    payload = b'{"model":"sim-alias",' + messages + b":" + content + b"}"
    request = head(path, b"Authorization: Bearer " + TOKEN.encode())
    status, answer = await raw_request(api, request, payload)
    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_request_error"
    assert "surrogate" in answer["error"]["message"]
    whole = payload.replace(b"\\ud800", b"\\ud83d\\ude00")
    status, answer = await raw_request(api, request, whole)
    assert status == 200, answer
    assert "Traceback" not in api.daemon.log_path.read_text()
