"""Talking to the real daemon's Responses surface, and checking what autosred-sim received.

``Api`` wraps one running daemon (package-scoped, see conftest.py): raw HTTP with aiohttp, the
official ``openai`` SDK whose transport tees the bytes it reads (so one streamed request is
both parsed here, event by event, and accumulated by ``get_final_response``), and the sim's
introspection (``GET {endpoint}/sim/requests``), matched by the ``X-Request-Id`` the daemon
sends upstream (its ``request-id``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx2 as httpx
import openai

from tests.proxy.responses.resp_helpers import check_lifecycle, parse_sse
from tests.proxy.tee import TeeTransport
from tests.support.daemon import Daemon

TOKEN = "tok-responses-http-tests"
MODEL = "gpt-5.5"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sim(**spec: Any) -> str:
    """A ``#sim {json}`` directive line: what the simulated model answers."""
    return "#sim " + json.dumps(spec)


def body(content: Any = "hi", **fields: Any) -> dict[str, Any]:
    """A minimal Responses body (Codex shape: one user message item)."""
    out: dict[str, Any] = {
        "model": MODEL,
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": content}],
            }
        ]
        if isinstance(content, str)
        else content,
    }
    out.update(fields)
    return out


@dataclass
class Streamed:
    """One streamed request, seen by the SDK and byte by byte."""

    status: int
    headers: httpx.Headers
    raw: bytes
    payloads: list[dict[str, Any]]
    comments: list[str]
    final: Any
    """``get_final_response()`` (a ParsedResponse); None when the SDK raised."""
    error: Exception | None = None

    @property
    def request_id(self) -> str:
        return self.headers["request-id"]

    @property
    def terminal(self) -> dict[str, Any]:
        response: dict[str, Any] = self.payloads[-1]["response"]
        return response

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [p for p in self.payloads if p["type"] == kind]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    json: Any
    text: str

    @property
    def request_id(self) -> str:
        return self.headers["request-id"]


@dataclass
class Api:
    daemon: Daemon
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.daemon.api_url

    def headers(self, token: str | None = TOKEN) -> dict[str, str]:
        out = {"Content-Type": "application/json"}
        if token is not None:
            out["Authorization"] = f"Bearer {token}"
        return out

    async def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        data: bytes | None = None,
        base: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        if data is None and payload is not None:
            data = json.dumps(payload).encode()
        async with self.session.request(
            method, (base or self.url) + path, data=data, headers=headers or self.headers()
        ) as response:
            text = await response.text()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            return Reply(response.status, dict(response.headers), parsed, text)

    async def post(self, payload: Any, **kwargs: Any) -> Reply:
        return await self.request("POST", "/v1/responses", payload, **kwargs)

    def sdk(
        self, transport: TeeTransport | None = None, base: str | None = None
    ) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=(base or self.url) + "/v1",
            api_key=TOKEN,
            max_retries=0,
            http_client=httpx.AsyncClient(transport=transport or TeeTransport(), timeout=30),
        )

    async def stream(self, payload: dict[str, Any], *, base: str | None = None) -> Streamed:
        """POST a streaming request through the SDK (``responses.stream``); everything beyond
        model and input goes as ``extra_body``, so it reaches the daemon verbatim. The bytes
        are checked against the lifecycle (docs/conformance.md, cases 67/68)."""
        transport = TeeTransport()
        client = self.sdk(transport, base)
        extra = {k: v for k, v in payload.items() if k not in ("model", "input", "stream")}
        final: Any = None
        error: Exception | None = None
        try:
            async with client.responses.stream(
                model=payload["model"], input=payload.get("input", []), extra_body=extra
            ) as stream:
                final = await stream.get_final_response()
        except (openai.APIError, RuntimeError) as exc:
            error = exc
        finally:
            await client.close()
        assert transport.responses, "the SDK sent no request"
        response, sink = transport.responses[-1]
        raw = bytes(sink)
        payloads: list[dict[str, Any]] = []
        comments: list[str] = []
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            payloads, comments = parse_sse(raw)
            if payloads:
                check_lifecycle(payloads)
        return Streamed(
            response.status_code, response.headers, raw, payloads, comments, final, error
        )

    async def create(self, payload: dict[str, Any]) -> tuple[Any, str]:
        """``responses.create`` without streaming: (the SDK's Response, request-id)."""
        transport = TeeTransport()
        client = self.sdk(transport)
        extra = {k: v for k, v in payload.items() if k not in ("model", "input", "stream")}
        try:
            reply = await client.responses.create(
                model=payload["model"], input=payload.get("input", []), extra_body=extra
            )
        finally:
            await client.close()
        response, _ = transport.responses[-1]
        return reply, response.headers["request-id"]

    # -------------------------------------------------------------------------- the sim side

    async def endpoint(self, model: str = "sim") -> str:
        """The model server's URL now (a restarted server listens on another port)."""
        endpoint = (await self.daemon.model(model))["endpoint"]
        assert endpoint, f"{model} has no endpoint (not awake?)"
        return str(endpoint)

    async def sim_records(self, model: str = "sim") -> list[dict[str, Any]]:
        path = "/v1/chat/completions"
        async with self.session.get(f"{await self.endpoint(model)}/sim/requests?path={path}") as r:
            records: list[dict[str, Any]] = await r.json()
            return records

    async def upstream(self, request_id: str, model: str = "sim") -> dict[str, Any]:
        """The sim's record of the request the daemon sent for ``request_id``."""
        records = await self.sim_records(model)
        for record in reversed(records):
            if _header(record, "X-Request-Id") == request_id:
                found: dict[str, Any] = record
                return found
        raise AssertionError(f"the sim received no chat request for {request_id}")

    async def sent(self, request_id: str, model: str = "sim") -> dict[str, Any]:
        """The chat body the daemon sent upstream for ``request_id``."""
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


def _header(record: dict[str, Any], name: str) -> str | None:
    for key, value in record.get("headers", {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def assert_openai_error(reply: Reply, status: int, code: object = None) -> dict[str, Any]:
    """The OpenAI envelope ``{"error": {message, type, param, code}}`` with ``status``."""
    assert reply.status == status, (reply.status, reply.text)
    assert reply.headers.get("Content-Type", "").startswith("application/json"), reply.headers
    assert isinstance(reply.json, dict) and set(reply.json) == {"error"}, reply.text
    error: dict[str, Any] = reply.json["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    if code is not None:
        assert error["code"] == code, error
    return error
