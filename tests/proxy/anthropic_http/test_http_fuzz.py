"""Malformed and random Messages bodies against the running daemon (hypothesis).

Whatever arrives, the answer is a 200 (the body happened to be valid) or a 4xx in the
Anthropic envelope; never a 5xx, never aiohttp's text/plain; and the daemon keeps serving.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.proxy.anthropic_http.support import Api, Reply, body

pytestmark = pytest.mark.asyncio(loop_scope="package")

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, JSON)


BLOCK_TYPES = [
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "search_result",
    "tool_reference",
]
BLOCK = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(BLOCK_TYPES))},
    optional={
        "text": maybe(st.text(max_size=30)),
        "id": maybe(st.text(max_size=12)),
        "name": maybe(st.sampled_from(["Bash", "Read"])),
        "input": maybe(st.dictionaries(st.text(max_size=5), _SCALARS, max_size=3)),
        "tool_use_id": maybe(st.text(max_size=12)),
        "content": maybe(st.text(max_size=20)),
        "is_error": JSON,
        "thinking": maybe(st.text(max_size=20)),
        "signature": JSON,
        "source": maybe(
            st.fixed_dictionaries(
                {"type": maybe(st.sampled_from(["base64", "url", "text", "content"]))},
                optional={"media_type": JSON, "data": JSON, "url": JSON, "content": JSON},
            )
        ),
        "cache_control": JSON,
    },
)
MESSAGE = st.fixed_dictionaries(
    {
        "role": maybe(st.sampled_from(["user", "assistant", "system", "ctx", "developer"])),
        "content": st.one_of(st.text(max_size=30), st.lists(BLOCK, max_size=4), JSON),
    }
)
TOOL = st.fixed_dictionaries(
    {"name": maybe(st.text(min_size=1, max_size=10))},
    optional={
        "type": JSON,
        "description": JSON,
        "input_schema": maybe(st.just({"type": "object"})),
    },
)
MESSAGES_BODY = st.fixed_dictionaries(
    {},
    optional={
        "model": maybe(st.sampled_from(["claude-sonnet-5", "sim", "text-x", "claude-haiku-4-5"])),
        "max_tokens": maybe(st.integers(min_value=-3, max_value=10**7)),
        "messages": st.one_of(st.lists(MESSAGE, max_size=4), JSON),
        "system": st.one_of(st.text(max_size=20), st.lists(BLOCK, max_size=2), JSON),
        "tools": st.one_of(st.lists(TOOL, max_size=3), JSON),
        "tool_choice": maybe(
            st.fixed_dictionaries(
                {"type": maybe(st.sampled_from(["auto", "any", "tool", "none"]))},
                optional={"name": JSON, "disable_parallel_tool_use": JSON},
            )
        ),
        "thinking": maybe(
            st.fixed_dictionaries(
                {"type": maybe(st.sampled_from(["enabled", "disabled", "adaptive"]))},
                optional={"budget_tokens": JSON},
            )
        ),
        "stop_sequences": JSON,
        "temperature": JSON,
        "top_p": JSON,
        "top_k": JSON,
        "stream": maybe(st.booleans()),
        "metadata": JSON,
        "output_config": JSON,
        "context_management": JSON,
    },
)
PAYLOAD = st.one_of(
    MESSAGES_BODY.map(lambda b: json.dumps(b).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    MESSAGES_BODY.map(lambda b: json.dumps(b).encode()[: max(1, len(json.dumps(b)) // 2)]),
)
PATH = st.sampled_from(["/v1/messages?beta=true", "/v1/messages/count_tokens?beta=true"])


def check(reply: Reply) -> None:
    assert reply.status < 500, (reply.status, reply.text[:500])
    assert reply.headers.get("request-id", "").startswith("req_")
    if reply.status == 200:
        return
    assert 400 <= reply.status < 500, reply.status
    envelope = reply.json
    assert isinstance(envelope, dict), reply.text[:300]
    assert envelope["type"] == "error"
    assert envelope["error"]["type"] in {
        "invalid_request_error",
        "not_found_error",
        "request_too_large",
    }, envelope
    assert envelope["request_id"] == reply.headers["request-id"]


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(path=PATH, data=PAYLOAD)
async def test_fuzz_random_bodies_get_4xx_envelopes_never_5xx(
    api: Api, path: str, data: bytes
) -> None:
    check(await api.post(path, None, data=data))


async def test_fuzz_then_the_daemon_still_serves(api: Api) -> None:
    reply = await api.message(body(content="still there?"))
    assert reply.status == 200, reply.text
    assert reply.json["content"][0]["type"] == "text"
    assert "Traceback" not in api.daemon.log_path.read_text()
