"""Talking to the real daemon's Anthropic surface, and checking what autosred-sim received.

``Api`` wraps one running daemon (package-scoped, see conftest.py): raw HTTP with aiohttp, the
official ``anthropic`` SDK whose transport tees the bytes it reads (so one streamed request is
both parsed here, event by event, and accumulated by ``get_final_message``), and the sim's
introspection (``GET {endpoint}/sim/requests``), matched by the ``X-Request-Id`` the daemon
sends upstream (its ``request-id``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anthropic
import httpx2 as httpx

from tests.proxy.tee import TeeTransport
from tests.support.daemon import Daemon

TOKEN = "tok-anthropic-http-tests"
BATCH_TOKEN = "tok-batch-client"
MODEL = "claude-sonnet-5"  # a current name: the SDK warns about deprecated ones
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sim(**spec: Any) -> str:
    """A ``#sim {json}`` directive line: what the simulated model answers."""
    return "#sim " + json.dumps(spec)


def body(*, content: Any = "hi", **fields: Any) -> dict[str, Any]:
    """A minimal Messages body; ``content`` is the one user turn's content."""
    out: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": content}],
    }
    out.update(fields)
    return out


# ------------------------------------------------------------------------------ SSE


@dataclass
class Frame:
    event: str
    data: dict[str, Any]


def parse_sse(raw: bytes) -> tuple[list[Frame], list[str]]:
    """(frames, comment lines) of an Anthropic SSE body; asserts each frame's shape."""
    frames: list[Frame] = []
    comments: list[str] = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        event = None
        data = None
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
            elif line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                assert data is None, f"one data line per frame: {block!r}"
                data = line[len("data: ") :]
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        if event is None and data is None:
            continue
        assert event is not None and data is not None, f"frame without event/data: {block!r}"
        assert data != "[DONE]", "Anthropic streams carry no [DONE]"
        payload = json.loads(data)
        assert payload["type"] == event, f"data.type {payload['type']!r} != event {event!r}"
        frames.append(Frame(event, payload))
    return frames, comments


def assert_grammar(frames: list[Frame]) -> None:
    """``message_start ping* (block_start delta* block_stop)* message_delta message_stop``, or
    an ``error`` as the last frame (after any prefix); indices 0,1,2… and one open block."""
    names = [frame.event for frame in frames if frame.event != "ping"]
    if names and names[-1] == "error":
        assert "message_delta" not in names and "message_stop" not in names, names
        names = names[:-1]
        if not names:
            return
        complete = False
    else:
        complete = True
    assert names[0] == "message_start", names
    assert names.count("message_start") == 1, names
    expected_index = 0
    open_index: int | None = None
    for frame in frames[1:]:
        if frame.event in ("ping", "error"):
            continue
        if frame.event == "content_block_start":
            assert open_index is None, "a block started while another was open"
            assert frame.data["index"] == expected_index, (frame.data, expected_index)
            open_index = expected_index
            expected_index += 1
        elif frame.event == "content_block_delta":
            assert frame.data["index"] == open_index, "delta for a block that is not open"
        elif frame.event == "content_block_stop":
            assert frame.data["index"] == open_index
            open_index = None
        elif frame.event == "message_delta":
            assert open_index is None, "message_delta while a block is open"
        elif frame.event == "message_stop":
            assert frame is frames[-1], "nothing may follow message_stop"
    if complete:
        assert names[-2:] == ["message_delta", "message_stop"], names
        assert names.count("message_delta") == 1


def blocks_of(frames: list[Frame]) -> list[dict[str, Any]]:
    """Content blocks accumulated from the frames (tool input as the joined JSON text)."""
    blocks: list[dict[str, Any]] = []
    for frame in frames:
        if frame.event == "content_block_start":
            blocks.append(dict(frame.data["content_block"]))
        elif frame.event == "content_block_delta":
            block = blocks[frame.data["index"]]
            delta = frame.data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "input_json_delta":
                block["partial_json"] = block.get("partial_json", "") + delta["partial_json"]
    return blocks


# ------------------------------------------------------------------------------ SDK tee


@dataclass
class Streamed:
    """One streamed request, seen by the SDK and byte by byte."""

    status: int
    headers: httpx.Headers
    raw: bytes
    frames: list[Frame]
    comments: list[str]
    message: anthropic.types.Message | None
    """``get_final_message()``; None when the SDK raised (``error``)."""
    error: anthropic.APIError | None = None

    @property
    def request_id(self) -> str:
        return self.headers["request-id"]

    def named(self, event: str) -> list[Frame]:
        return [frame for frame in self.frames if frame.event == event]

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return blocks_of(self.frames)


# ------------------------------------------------------------------------------ the API


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    json: Any
    text: str

    @property
    def request_id(self) -> str:
        return self.headers["request-id"]


_SDK_ARGS = ("model", "max_tokens", "messages")


@dataclass
class Api:
    daemon: Daemon
    session: aiohttp.ClientSession
    _endpoints: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.daemon.api_url

    def headers(self, token: str | None = TOKEN, **extra: str) -> dict[str, str]:
        out = {"Content-Type": "application/json"}
        if token is not None:
            out["x-api-key"] = token
        out.update(extra)
        return out

    async def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        if data is None and payload is not None:
            data = json.dumps(payload).encode()
        async with self.session.request(
            method, self.url + path, data=data, headers=headers or self.headers()
        ) as response:
            text = await response.text()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            return Reply(response.status, dict(response.headers), parsed, text)

    async def post(self, path: str, payload: Any, **kwargs: Any) -> Reply:
        return await self.request("POST", path, payload, **kwargs)

    async def message(self, payload: dict[str, Any], **kwargs: Any) -> Reply:
        """POST /v1/messages?beta=true, as Claude Code sends it."""
        return await self.post("/v1/messages?beta=true", payload, **kwargs)

    def sdk(self, transport: TeeTransport | None = None, **kwargs: Any) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            base_url=self.url,
            api_key=TOKEN,
            max_retries=0,
            http_client=httpx.AsyncClient(transport=transport or TeeTransport(), timeout=30),
            **kwargs,
        )

    async def stream(self, payload: dict[str, Any], **headers: str) -> Streamed:
        """POST a streaming request through the SDK (``messages.stream``); everything beyond
        model/max_tokens/messages goes as ``extra_body`` so it reaches the daemon verbatim."""
        transport = TeeTransport()
        client = self.sdk(transport)
        kwargs = {key: payload[key] for key in _SDK_ARGS}
        extra = {k: v for k, v in payload.items() if k not in (*_SDK_ARGS, "stream")}
        message: anthropic.types.Message | None = None
        error: anthropic.APIError | None = None
        try:
            async with client.messages.stream(
                **kwargs,
                extra_body=extra,
                extra_headers=headers or None,
                extra_query={"beta": "true"},
            ) as stream:
                message = await stream.get_final_message()
        except anthropic.APIError as exc:
            error = exc
        finally:
            await client.close()
        assert transport.responses, "the SDK sent no request"
        response, sink = transport.responses[-1]
        raw = bytes(sink)
        frames: list[Frame] = []
        comments: list[str] = []
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            frames, comments = parse_sse(raw)
            assert_grammar(frames)
        return Streamed(
            response.status_code, response.headers, raw, frames, comments, message, error
        )

    # -------------------------------------------------------------------------- the sim side

    async def endpoint(self, model: str = "sim", *, fresh: bool = False) -> str:
        if fresh or model not in self._endpoints:
            endpoint = (await self.daemon.model(model))["endpoint"]
            assert endpoint, f"{model} has no endpoint (not awake?)"
            self._endpoints[model] = endpoint
        return self._endpoints[model]

    async def sim_records(
        self, model: str = "sim", path: str | None = None
    ) -> list[dict[str, Any]]:
        query = f"?path={path}" if path else ""
        async with self.session.get(f"{await self.endpoint(model)}/sim/requests{query}") as resp:
            records: list[dict[str, Any]] = await resp.json()
            return records

    async def upstream(
        self, request_id: str, model: str = "sim", path: str = "/v1/chat/completions"
    ) -> dict[str, Any]:
        """The sim's record of the request the daemon sent for ``request_id``."""
        for record in (await self.sim_records(model, path))[::-1]:
            if _header(record, "X-Request-Id") == request_id:
                return record
        raise AssertionError(f"the sim received no {path} request for {request_id}")

    async def upstream_body(self, request_id: str, model: str = "sim") -> dict[str, Any]:
        body: dict[str, Any] = (await self.upstream(request_id, model))["body"]
        return body

    async def wait_upstream_status(
        self, request_id: str, status: str, model: str = "sim", timeout: float = 5.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                record = await self.upstream(request_id, model)
                if record["status"] == status:
                    return record
                await asyncio.sleep(0.05)

    async def set_script(self, replies: list[dict[str, Any]], model: str = "sim") -> None:
        async with self.session.post(
            f"{await self.endpoint(model)}/sim/script", json={"replies": replies}
        ) as response:
            assert response.status == 200, await response.text()


def _header(record: dict[str, Any], name: str) -> str | None:
    for key, value in record.get("headers", {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def assert_error_envelope(reply: Reply, status: int, error_type: str) -> dict[str, Any]:
    """The documented shape, the status, the type, and request_id == the request-id header."""
    assert reply.status == status, (reply.status, reply.text)
    assert reply.headers.get("Content-Type", "").startswith("application/json"), reply.headers
    envelope = reply.json
    assert isinstance(envelope, dict), reply.text
    assert set(envelope) == {"type", "error", "request_id"}, envelope
    assert envelope["type"] == "error"
    assert set(envelope["error"]) == {"type", "message"}, envelope
    assert envelope["error"]["type"] == error_type, envelope
    assert isinstance(envelope["error"]["message"], str) and envelope["error"]["message"]
    assert envelope["request_id"] == reply.request_id
    assert reply.request_id.startswith("req_")
    error: dict[str, Any] = envelope["error"]
    return error
