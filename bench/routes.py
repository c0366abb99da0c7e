"""The ways a client reaches the simulator in these benchmarks ("routes"), and the requests
each one sends.

Every route ends at the same simulator process. ``direct`` asks it for an OpenAI chat stream
itself; the others go through a proxy that turns their request into such a chat stream and its
answer into their own dialect:

- ``direct``: the simulator itself, a chat completions request; events are ``data:`` lines.
- ``direct_usage``: the same request with the ``stream_options`` that the daemon's
  /v1/messages relay asks for (usage at the end): what the simulator's part of the
  Messages route costs, without the daemon.
- ``openai``: autosred's OpenAI pass-through, the ``direct`` request; ``data:`` lines.
- ``anthropic``: autosred's /v1/messages, Claude Code's request shape; ``event:`` lines.
- ``responses``: autosred's /v1/responses, the Codex CLI's request shape; ``event:`` lines.
- ``litellm``, ``ccr``: LiteLLM's and claude-code-router's /v1/messages, Claude Code's
  request shape; ``event:`` lines.

An *event* is one SSE event as the client receives it: in an OpenAI chat stream one ``data:``
line (the role chunk, each content chunk, ``[DONE]``); in an Anthropic Messages or OpenAI
Responses stream one ``event:`` line (``message_start``, ``ping``, ``content_block_delta``,
..., ``response.output_text.delta``, ...), each followed by exactly one ``data:`` line. The
number of events per stream differs between dialects (a 200-chunk answer is 202 OpenAI
events, about 206 Anthropic ones), so ratios between routes are taken per stream (see
`bench.scenarios.Throughput.streams_per_second`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from autosred.proxy.anthropic.request import STREAM_OPTIONS
from bench.client import DATA, EVENT

CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
RESPONSES_PATH = "/v1/responses"

BILLING_HEADER = "x-anthropic-billing-header: cc_version=2.1.197.1c0; cc_entrypoint=sdk-cli;"
ANTHROPIC_HEADERS = {
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "interleaved-thinking-2025-05-14,context-management-2025-06-27",
    "x-app": "cli",
}
"""What Claude Code adds to every Messages request (besides its token, see `Route.headers`)."""


def sim_directive(reply: dict[str, Any]) -> str:
    return "#sim " + json.dumps(reply, separators=(",", ":"))


def chat_body(model: str, reply: dict[str, Any]) -> dict[str, Any]:
    """A streamed chat request whose reply the simulator takes from the ``#sim`` directive."""
    return {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": f"Benchmark stream.\n{sim_directive(reply)}"}],
    }


MESSAGES_UPSTREAM_OPTIONS = STREAM_OPTIONS
"""The ``stream_options`` the daemon's /v1/messages relay asks the model server for (the
daemon's own constant); `chat_usage_body` sends the same, direct."""


def chat_usage_body(model: str, reply: dict[str, Any]) -> dict[str, Any]:
    """`chat_body` with the daemon's Messages-relay ``stream_options``: the simulator does the
    same work per chunk as for the daemon's /v1/messages requests."""
    return {**chat_body(model, reply), "stream_options": MESSAGES_UPSTREAM_OPTIONS}


def messages_body(model: str, reply: dict[str, Any]) -> dict[str, Any]:
    """A small request in the shape Claude Code sends on a main turn (captured from Claude Code
    2.1.197, shortened): system blocks with the billing header and cache_control, thinking
    enabled, one tool, metadata, context_management; the ``#sim`` directive in the last user
    text block."""
    return {
        "model": model,
        "max_tokens": 32000,
        "stream": True,
        "system": [
            {"type": "text", "text": BILLING_HEADER},
            {
                "type": "text",
                "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
                "cache_control": {"type": "ephemeral"},
            },
            {
                "type": "text",
                "text": "You are an interactive agent that helps users with software "
                "engineering tasks. Use the instructions below and the tools available to you.",
                "cache_control": {"type": "ephemeral"},
            },
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>Benchmark run.</system-reminder>"},
                    {
                        "type": "text",
                        "text": f"Benchmark stream.\n{sim_directive(reply)}",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            }
        ],
        "tools": [
            {
                "name": "Bash",
                "description": "Executes a given bash command and returns its output.",
                "input_schema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {
                        "command": {"type": "string", "description": "The command to execute"},
                        "timeout": {"type": "number", "description": "Optional timeout in ms"},
                    },
                    "required": ["command"],
                    "additionalProperties": False,
                },
            }
        ],
        "metadata": {
            "user_id": '{"device_id":"679a5f354f6d5e04","account_uuid":"",'
            '"session_id":"bc1f7800-c4ce-410a-b14e-8ed27ea8c2ac"}'
        },
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    }


def responses_body(model: str, reply: dict[str, Any]) -> dict[str, Any]:
    """A small request in the shape the Codex CLI sends (captured from Codex 0.169.0,
    shortened): a developer message, one function tool, reasoning effort, store false,
    include encrypted reasoning; the ``#sim`` directive in the user message."""
    return {
        "model": model,
        "stream": True,
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "You are Codex, a coding agent."}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": f"Benchmark stream.\n{sim_directive(reply)}"}
                ],
            },
        ],
        "tools": [
            {
                "type": "function",
                "name": "exec_command",
                "description": "Runs a command in a PTY, returning output.",
                "strict": False,
                "parameters": {
                    "type": "object",
                    "properties": {"cmd": {"type": "string", "description": "Shell command."}},
                    "required": ["cmd"],
                    "additionalProperties": False,
                },
            }
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "01a20808-6f66-71c2-806c-ec08e1945616",
        "text": {"verbosity": "low"},
    }


REQUESTS = {
    "chat": (CHAT_PATH, chat_body, DATA, {}),
    "chat_usage": (CHAT_PATH, chat_usage_body, DATA, {}),
    "messages": (MESSAGES_PATH, messages_body, EVENT, ANTHROPIC_HEADERS),
    "responses": (RESPONSES_PATH, responses_body, EVENT, {}),
}
"""The request kinds: path, body builder, event marker, extra headers."""


def expand(spec: dict[str, Any]) -> dict[str, Any]:
    """A load generator spec's short form (``request``, ``model``, ``reply``, optional
    ``token``) expanded into ``path``, ``body``, ``headers`` and ``event_marker``; a spec
    without ``request`` is returned as it is."""
    if "request" not in spec:
        return spec
    expanded = dict(spec)
    kind = expanded.pop("request")
    model = expanded.pop("model")
    reply = expanded.pop("reply")
    token = expanded.pop("token", None)
    path, build, marker, headers = REQUESTS[kind]
    expanded.update(path=path, body=build(model, reply), event_marker=marker)
    expanded["headers"] = {**headers, **({"authorization": f"Bearer {token}"} if token else {})}
    return expanded


@dataclass(frozen=True)
class Route:
    key: str
    """``direct``, ``openai``, ``anthropic``, ``responses``, ``litellm`` or ``ccr``."""
    label: str
    host: str
    port: int
    request: str
    """A key of `REQUESTS`: ``chat``, ``chat_usage``, ``messages`` or ``responses``."""
    model: str
    reply: dict[str, Any]
    """The simulator's ``#sim`` reply spec."""
    token: str | None = None
    """Sent as ``Authorization: Bearer``."""
    proxy: str | None = None
    """The process between the client and the simulator, by its CPU key (``daemon``,
    ``litellm``, ``ccr``); None for ``direct``."""

    def spec(self) -> dict[str, Any]:
        """The route's part of a load generator spec, in the short form (see `expand`)."""
        spec: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "request": self.request,
            "model": self.model,
            "reply": self.reply,
        }
        if self.token:
            spec["token"] = self.token
        return spec

    @property
    def path(self) -> str:
        return str(REQUESTS[self.request][0])

    @property
    def marker(self) -> str:
        return str(REQUESTS[self.request][2])

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = expand(self.spec())["body"]
        return body

    @property
    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = expand(self.spec())["headers"]
        return headers


def direct(host: str, port: int, model: str, reply: dict[str, Any]) -> Route:
    return Route("direct", "direct (simulator)", host, port, "chat", model, reply)


def direct_usage(host: str, port: int, model: str, reply: dict[str, Any]) -> Route:
    label = "direct, with the Messages relay's stream_options"
    return Route("direct_usage", label, host, port, "chat_usage", model, reply)


def daemon_openai(host: str, port: int, model: str, reply: dict[str, Any]) -> Route:
    # The daemon is asked for the served name too, so both paths get byte-identical requests
    # (an alias would add one JSON re-encode of a ~300-byte body in the daemon).
    label = "autosred, OpenAI pass-through"
    return Route("openai", label, host, port, "chat", model, reply, proxy="daemon")


TOKEN = "sk-autosred-bench"
"""The bearer token of the Messages requests (LiteLLM's master key; the daemon and
claude-code-router run without client tokens and ignore it)."""


def daemon_anthropic(host: str, port: int, model: str, reply: dict[str, Any]) -> Route:
    label = "autosred /v1/messages"
    return Route(
        "anthropic", label, host, port, "messages", model, reply, token=TOKEN, proxy="daemon"
    )


def daemon_responses(host: str, port: int, model: str, reply: dict[str, Any]) -> Route:
    label = "autosred /v1/responses"
    return Route("responses", label, host, port, "responses", model, reply, proxy="daemon")


def litellm(host: str, port: int, model: str, reply: dict[str, Any]) -> Route:
    label = "LiteLLM /v1/messages"
    return Route(
        "litellm", label, host, port, "messages", model, reply, token=TOKEN, proxy="litellm"
    )


def ccr(host: str, port: int, model: str, reply: dict[str, Any]) -> Route:
    label = "claude-code-router /v1/messages"
    return Route("ccr", label, host, port, "messages", model, reply, token=TOKEN, proxy="ccr")
