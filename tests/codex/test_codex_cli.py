"""The real Codex CLI against the daemon's Responses API in front of autosred-sim.

Each test checks both ends: what Codex shows its user (stdout, exit status, the --json
events, the files it wrote) and what the model server received (the sim's request log).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.codex.support import (
    MODEL,
    STREAM_RETRIES,
    CodexEnv,
    codex_env,
    requires_codex,
    tool_content,
    tool_names,
    user_texts,
)

pytestmark = requires_codex

# vLLM's tool-call id format; set explicitly so that the test knows what the sim emitted.
TOOL_ID = "chatcmpl-tool-5f0c3a9e1b7d4c2a8e6f0b1d3c5a7e9f"
PATCH_ID = "chatcmpl-tool-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch"


def _files(env: CodexEnv) -> None:
    (env.work / "alpha.txt").write_text("alpha\n")
    (env.work / "beta.py").write_text("print('beta')\n")


def _assistant_with_tool_call(body: dict[str, Any]) -> dict[str, Any]:
    calls = [m for m in body["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    assert len(calls) == 1, body["messages"]
    call: dict[str, Any] = calls[0]
    return call


def _the_answer_to(call: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The message right after the assistant's tool call: the tool's result."""
    messages = body["messages"]
    answer: dict[str, Any] = messages[messages.index(call) + 1]
    return answer


async def test_text_answer(tmp_path: Path) -> None:
    answer = "Hello from the simulated model: 42 apples and 7 pears."
    async with codex_env(tmp_path) as env:
        await env.script({"text": answer})
        run = await env.codex(prompt="Say hello and count the fruit.")

        # stdout holds the final answer alone; the transcript goes to stderr.
        assert run.rc == 0, run
        assert run.out == answer + "\n"
        assert f"model: {MODEL}" in run.err
        assert "provider: autosred" in run.err

        requests = await env.sim_requests()
        assert len(requests) == 1
        request = requests[0]
        assert request["status"] == "completed"
        body = request["body"]
        assert body["model"] == "sim-served"
        assert body["stream"] is True
        assert user_texts(body)[-1] == "Say hello and count the fruit."
        # Codex's developer messages (its base prompt, the skills list) became the one leading
        # system message; its tools went up as functions, apply_patch (a custom tool) and
        # the tool_search Codex runs itself included, and web_search, which the daemon runs
        # (its hosted search is on with mcp.search; case 92).
        roles = [message["role"] for message in body["messages"]]
        assert roles[0] == "system" and roles.count("system") == 1, roles
        assert "You are Codex" in body["messages"][0]["content"]
        names = tool_names(body)
        assert "exec_command" in names and "apply_patch" in names
        assert "web_search" in names and "tool_search" in names
        assert all(tool["type"] == "function" for tool in body["tools"])


async def test_exec_command_tool_loop(tmp_path: Path) -> None:
    final = "This directory holds alpha.txt and beta.py."
    call = {"name": "exec_command", "arguments": {"cmd": "ls"}, "id": TOOL_ID}
    async with codex_env(tmp_path) as env:
        _files(env)
        await env.script({"tool_calls": [call]}, {"text": final})
        run = await env.codex("--json", prompt="List the files here.")

        # Codex ran the command (read-only sandbox, the default) and showed its output ...
        assert run.rc == 0, run
        commands = run.items("command_execution")
        assert len(commands) == 1, run.out
        assert commands[0]["command"].endswith("ls")
        assert commands[0]["exit_code"] == 0
        assert "alpha.txt" in commands[0]["aggregated_output"]
        assert [item["text"] for item in run.items("agent_message")] == [final]

        first, second = await env.sim_requests()
        assert first["status"] == second["status"] == "completed"
        assert first["finish_reason"] == "tool_calls"
        # ... and the next request carries the call as the sim made it, then the output of
        # running it, as a tool message answering that very id.
        assistant = _assistant_with_tool_call(second["body"])
        assert [c["id"] for c in assistant["tool_calls"]] == [TOOL_ID]
        function = assistant["tool_calls"][0]["function"]
        assert function["name"] == "exec_command"
        assert json.loads(function["arguments"]) == {"cmd": "ls"}
        tool_message = _the_answer_to(assistant, second["body"])
        assert tool_message["role"] == "tool"
        assert tool_message["tool_call_id"] == TOOL_ID
        output = tool_content(tool_message)
        assert "Process exited with code 0" in output
        assert "alpha.txt" in output and "beta.py" in output


async def test_apply_patch_creates_the_file(tmp_path: Path) -> None:
    final = "I created hello.txt."
    async with codex_env(tmp_path) as env:
        # apply_patch is a custom (freeform) tool for Codex; upstream it is a function with one
        # string parameter, which the model fills with the patch.
        await env.script(
            {
                "tool_calls": [
                    {"name": "apply_patch", "arguments": {"input": PATCH}, "id": PATCH_ID}
                ]
            },
            {"text": final},
        )
        run = await env.codex(
            "--json", "-s", "workspace-write", prompt="Create hello.txt saying hello."
        )

        # The file exists, written by Codex from the patch it got as a custom tool call.
        assert run.rc == 0, run
        assert (env.work / "hello.txt").read_text() == "hello\n"
        changes = run.items("file_change")
        assert len(changes) == 1, run.out
        assert changes[0]["status"] == "completed"
        assert [c["kind"] for c in changes[0]["changes"]] == ["add"]
        assert changes[0]["changes"][0]["path"].endswith("hello.txt")
        assert [item["text"] for item in run.items("agent_message")] == [final]

        first, second = await env.sim_requests()
        assert first["status"] == second["status"] == "completed"
        tool = next(t for t in first["body"]["tools"] if t["function"]["name"] == "apply_patch")
        parameters = tool["function"]["parameters"]
        assert parameters["required"] == ["input"]
        assert parameters["properties"]["input"]["type"] == "string"
        # Codex's custom_tool_call_output came back as the tool message for that call.
        assistant = _assistant_with_tool_call(second["body"])
        assert [c["id"] for c in assistant["tool_calls"]] == [PATCH_ID]
        assert assistant["tool_calls"][0]["function"]["name"] == "apply_patch"
        arguments = json.loads(assistant["tool_calls"][0]["function"]["arguments"])
        assert arguments == {"input": PATCH}
        tool_message = _the_answer_to(assistant, second["body"])
        assert tool_message["role"] == "tool"
        assert tool_message["tool_call_id"] == PATCH_ID
        assert "A hello.txt" in tool_content(tool_message)


async def test_response_failed_once_then_codex_retries(tmp_path: Path) -> None:
    broken = "This first answer is cut off in the middle and must never be shown to anyone."
    answer = "The whole answer, on the second try."
    async with codex_env(tmp_path) as env:
        # The sim cuts its first stream after 3 chunks: the daemon has already streamed the
        # start of the response, so it ends it with response.failed.
        await env.script({"text": broken, "drop_after": 3}, {"text": answer})
        run = await env.codex("--json", prompt="Tell me something.")

        # Codex reported one reconnect, retried, and showed only the second answer.
        assert run.rc == 0, run
        errors = [event["message"] for event in run.events() if event["type"] == "error"]
        assert len(errors) == 1, run.out
        assert errors[0].startswith(f"Reconnecting... 1/{STREAM_RETRIES}"), errors
        assert [item["text"] for item in run.items("agent_message")] == [answer]
        assert "This first" not in run.out  # the start of the broken answer, never shown
        assert run.events()[-1]["type"] == "turn.completed"

        first, second = await env.sim_requests()
        assert first["status"] == "failed"
        assert first["chunks_sent"] == 3
        assert second["status"] == "completed"
        assert second["body"]["messages"] == first["body"]["messages"]
