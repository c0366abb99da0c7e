"""Real Claude Code against the daemon in front of autosred-sim.

Each test checks both ends: what Claude Code shows its user (stdout, exit status, the JSON
result) and what the model server received (the sim's request log).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.claude.support import ClaudeEnv, claude_env, last_user_text, requires_claude_code

pytestmark = requires_claude_code

# vLLM's tool-call id format; set explicitly so that the test knows what the sim emitted.
TOOL_ID = "chatcmpl-tool-5f0c3a9e1b7d4c2a8e6f0b1d3c5a7e9f"
BASH_LS = {"name": "Bash", "arguments": {"command": "ls", "description": "List files"}}


def _files(env: ClaudeEnv) -> None:
    (env.project / "alpha.txt").write_text("alpha\n")
    (env.project / "beta.py").write_text("print('beta')\n")


def _tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or []]


def _assistant_with_tool_call(body: dict[str, Any]) -> dict[str, Any]:
    calls = [m for m in body["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    assert len(calls) == 1, body["messages"]
    call: dict[str, Any] = calls[0]
    return call


async def test_text_answer(tmp_path: Path) -> None:
    answer = "Hello from the simulated model: 42 apples and 7 pears."
    async with claude_env(tmp_path) as env:
        await env.script({"text": answer})
        run = await env.claude(prompt="Say hello and count the fruit.")

        assert run.rc == 0, run
        assert run.out == answer + "\n"

        turns = await env.turn_requests()
        assert len(turns) == 1
        request = turns[0]
        assert request["status"] == "completed"
        body = request["body"]
        assert body["model"] == "sim-served"
        assert body["stream"] is True
        assert "Say hello and count the fruit." in last_user_text(body)
        assert "Bash" in _tool_names(body)
        # The billing header (a per-request hash) must not reach the model: it would defeat
        # vLLM's prefix cache.
        assert "x-anthropic-billing-header" not in json.dumps(body["messages"])


async def test_bash_tool_loop(tmp_path: Path) -> None:
    final = "This directory holds alpha.txt and beta.py."
    async with claude_env(tmp_path) as env:
        _files(env)
        await env.script({"tool_calls": [{**BASH_LS, "id": TOOL_ID}]}, {"text": final})
        run = await env.claude(
            "--allowedTools", "Bash", "--output-format", "json", prompt="List the files here."
        )

        result = run.json()
        assert run.rc == 0, run
        assert result["is_error"] is False
        assert result["result"] == final
        assert result["num_turns"] == 2

        first, second = await env.turn_requests()
        assert first["status"] == second["status"] == "completed"
        assert first["finish_reason"] == "tool_calls"
        # The second request carries the call as the sim made it, then Claude Code's result of
        # running it, as a tool message answering that very id.
        messages = second["body"]["messages"]
        call = _assistant_with_tool_call(second["body"])
        assert [c["id"] for c in call["tool_calls"]] == [TOOL_ID]
        function = call["tool_calls"][0]["function"]
        assert function["name"] == "Bash"
        assert json.loads(function["arguments"]) == BASH_LS["arguments"]
        index = messages.index(call)
        tool_message = messages[index + 1]
        assert tool_message["role"] == "tool"
        assert tool_message["tool_call_id"] == TOOL_ID
        content = tool_message["content"]
        if isinstance(content, list):
            content = "\n".join(part["text"] for part in content)
        assert "alpha.txt" in content and "beta.py" in content


async def test_reasoning_survives_into_the_next_turn(tmp_path: Path) -> None:
    reasoning = "The user wants the file list; running ls first is the quickest way."
    async with claude_env(tmp_path) as env:
        _files(env)
        await env.script(
            {"reasoning": reasoning, "tool_calls": [{**BASH_LS, "id": TOOL_ID}]},
            {"text": "Two files."},
        )
        run = await env.claude(
            "--allowedTools",
            "Bash",
            "--output-format",
            "stream-json",
            "--verbose",
            prompt="What files are here? Think first.",
        )

        assert run.rc == 0, run
        lines = run.stream_json()
        assert lines[-1]["type"] == "result" and lines[-1]["result"] == "Two files."
        # Claude Code kept the thinking block: with its text and a non-empty signature (it
        # drops unsigned thinking from the history).
        thinking = [
            block
            for line in lines
            if line["type"] == "assistant"
            for block in line["message"]["content"]
            if block["type"] == "thinking"
        ]
        assert [block["thinking"] for block in thinking] == [reasoning]
        assert thinking[0]["signature"]

        first, second = await env.turn_requests()
        assert first["status"] == second["status"] == "completed"
        # ... and sent it back: the next request gives the model its own reasoning again.
        call = _assistant_with_tool_call(second["body"])
        assert call.get("reasoning") == reasoning
        assert [c["id"] for c in call["tool_calls"]] == [TOOL_ID]


async def test_dropped_stream_falls_back_to_non_streaming(tmp_path: Path) -> None:
    broken = "This first answer is cut off in the middle and must never be shown to anyone."
    answer = "The whole answer, delivered without streaming."
    async with claude_env(tmp_path) as env:
        await env.script({"text": broken, "drop_after": 3}, {"text": answer})
        debug_log = env.home / "claude-debug.log"
        run = await env.claude("--debug-file", str(debug_log), prompt="Tell me something.")

        # The user sees only the second answer, and a success.
        assert run.rc == 0, run
        assert run.out == answer + "\n"
        # Claude Code got an error event (not a made-up end of message) and fell back to a
        # non-streaming request, as it does after any broken stream.
        fallbacks = [
            line
            for line in debug_log.read_text().splitlines()
            if "falling back to non-streaming mode" in line
        ]
        assert len(fallbacks) == 1, fallbacks
        assert '"type":"api_error"' in fallbacks[0]

        first, second = await env.turn_requests()
        # The sim cut the stream after 3 chunks ...
        assert first["status"] == "failed"
        assert first["chunks_sent"] == 3
        # ... and the fallback reached it as the same prompt, which was answered in full. (The
        # daemon streams from the upstream for non-streaming clients too, so `stream` is true
        # in both: a non-streaming reply is the same events, accumulated.)
        assert second["status"] == "completed"
        assert second["body"]["messages"] == first["body"]["messages"]
