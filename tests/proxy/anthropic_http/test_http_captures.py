"""Real Claude Code 2.1.197 request bodies (tests/data/captures/claude), replayed through the
daemon as Claude Code sent them: streamed, ``?beta=true``, its headers; the SDK accumulates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.proxy.anthropic.anth_helpers import capture_bodies
from tests.proxy.anthropic_http.support import Api

pytestmark = [
    pytest.mark.asyncio(loop_scope="package"),
    # Claude Code sends the names it knows; the SDK would only warn about their age.
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
]

CLAUDE_CODE_HEADERS = {
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
    "context-management-2025-06-27,prompt-caching-scope-2026-01-05",
    "x-app": "cli",
    "User-Agent": "claude-cli/2.1.197 (external, sdk-cli)",
}


BODIES = capture_bodies()


@pytest.mark.parametrize("captured", [b for _, b in BODIES], ids=[name for name, _ in BODIES])
async def test_captured_claude_code_request(api: Api, captured: dict[str, Any]) -> None:
    streamed = await api.stream(dict(captured), **CLAUDE_CODE_HEADERS)
    assert streamed.status == 200, streamed.raw[:500]
    assert streamed.message is not None, streamed.error
    assert streamed.message.model == captured["model"]
    assert streamed.message.stop_reason in {"end_turn", "tool_use"}
    sent = await api.upstream_body(streamed.request_id)
    wire = json.dumps(sent)
    assert sent["model"] == "sim-served"
    assert "cache_control" not in wire and "x-anthropic-billing-header" not in wire
    assert not {"context_management", "metadata", "thinking", "output_config"} & set(sent)
    tools = [t for t in captured.get("tools", []) if "input_schema" in t]
    assert len(sent.get("tools", [])) == len(tools)
