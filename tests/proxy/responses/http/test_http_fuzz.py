"""Random and malformed Responses bodies over HTTP: never a 5xx; every refusal is a 4xx in the
OpenAI envelope; the daemon keeps serving.

Sync on purpose: hypothesis drives a blocking client against the daemon, which is another
process, so the test needs no event loop of its own.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.proxy.responses.http.support import TOKEN, Api, sim
from tests.proxy.responses.resp_strategies import bodies
from tests.proxy.strategies import json_values
from tests.support.daemon import Daemon

HTTP_SETTINGS = settings(
    max_examples=int(os.environ.get("AUTOSRED_HTTP_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _small(body: Any) -> Any:
    """Keep generations short and on the main model: valid bodies reach the sim."""
    if isinstance(body, dict):
        body = dict(body)
        if body.get("model") == "gpt-5.5" or "model" not in body:
            body.setdefault("max_output_tokens", 4)
        body["stream"] = body.get("stream") if isinstance(body.get("stream"), bool) else False
    return body


raw_bodies = (
    st.binary(max_size=40)
    | st.text(max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass"))
    | json_values.map(lambda value: json.dumps(value).encode())
)


def _check(client: httpx.Client, url: str, data: bytes) -> None:
    response = client.post(url, content=data, headers=HEADERS)
    assert response.status_code < 500, (response.status_code, response.text[:300], data[:300])
    if response.status_code >= 400:
        envelope = response.json()
        assert set(envelope) == {"error"}, envelope
        assert set(envelope["error"]) == {"message", "type", "param", "code"}
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert "response.failed" not in response.text or "server_error" in response.text
    else:
        assert response.json()["object"] == "response"


@pytest.mark.asyncio(loop_scope="package")
async def test_daemon_is_up_for_the_fuzz(api: Api) -> None:
    reply = await api.post({"model": "gpt-5.5", "input": sim(text="ready"), "stream": False})
    assert reply.status == 200


@HTTP_SETTINGS
@given(body=bodies)
def test_random_bodies_are_never_a_5xx(daemon: Daemon, body: dict[str, Any]) -> None:
    with httpx.Client(timeout=30) as client:
        data = json.dumps(_small(body)).encode("utf-8", "surrogatepass")
        _check(client, daemon.api_url + "/v1/responses", data)


@HTTP_SETTINGS
@given(data=raw_bodies)
def test_random_bytes_are_never_a_5xx(daemon: Daemon, data: bytes) -> None:
    with httpx.Client(timeout=30) as client:
        _check(client, daemon.codex_url + "/v1/responses", data)


@pytest.mark.asyncio(loop_scope="package")
async def test_daemon_still_serves_after_the_fuzz(api: Api) -> None:
    streamed = await api.stream({"model": "gpt-5.5", "input": sim(text="still here")})
    assert streamed.final is not None and streamed.final.output_text == "still here"
