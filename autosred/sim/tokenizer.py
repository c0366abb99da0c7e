"""The toy tokenizer and toy chat template.

Real vLLM counts prompt tokens by rendering the chat template and running the model's tokenizer.
The simulator does the same with toys: `render_chat` turns messages (+ tools) into a ChatML-like
text, `ToyTokenizer` splits text into words, punctuation and whitespace runs. `/tokenize` and a
chat request's `usage.prompt_tokens` run the same rendering and the same regex
(`autosred.sim.chat.render_chat_body`), so a client that counts via `/tokenize` gets exactly what
the request reports.

Token ids are CRC-32 of the token text folded into a 151,936-id vocabulary (Qwen2's size): stable
across processes and Python versions (unlike `hash()`), independent of the seed.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

VOCAB_SIZE = 151_936

# Special tokens first (one token each), then a word with its leading space, then one punctuation
# character with its leading space, then runs of whitespace (newlines are their own runs).
_TOKEN_RE = re.compile(r"<\|[a-z_]+\|>| ?\w+| ?[^\w\s]|\n+|[^\S\n]+")

_DETOKENIZE_MEMORY = 200_000  # ids remembered for /detokenize; beyond that ids decode as <unk>


def _token_id(piece: str) -> int:
    return zlib.crc32(piece.encode("utf-8")) % VOCAB_SIZE


class ToyTokenizer:
    """Deterministic text <-> token ids. One per simulator (it remembers ids for /detokenize)."""

    def __init__(self) -> None:
        self._seen: dict[int, str] = {}

    def count(self, text: str) -> int:
        return sum(1 for _ in _TOKEN_RE.finditer(text))

    def pieces(self, text: str) -> list[str]:
        return _TOKEN_RE.findall(text)

    def encode(self, text: str) -> list[int]:
        ids = []
        seen = self._seen
        for piece in _TOKEN_RE.findall(text):
            token = _token_id(piece)
            if token not in seen and len(seen) < _DETOKENIZE_MEMORY:
                seen[token] = piece
            ids.append(token)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Best effort: ids this simulator has produced decode to their text, others to <unk>."""
        return "".join(self._seen.get(token, "<|unk|>") for token in ids)


def render_chat(
    messages: Sequence[Any],
    *,
    tools: Sequence[Any] | None = None,
    add_generation_prompt: bool = True,
    continue_final_message: bool = False,
    chat_template_kwargs: Mapping[str, Any] | None = None,
) -> str:
    """The toy chat template (ChatML-like; enough to make counts depend on everything sent)."""
    out: list[str] = []
    if tools:
        lines = "\n".join(_dump(tool) for tool in tools)
        out.append(f"<|im_start|>system\n# Tools\n<tools>\n{lines}\n</tools><|im_end|>\n")
    last = len(messages) - 1
    for position, message in enumerate(messages):
        if not isinstance(message, Mapping):
            out.append(f"<|im_start|>user\n{_dump(message)}<|im_end|>\n")
            continue
        role = str(message.get("role", "user"))
        body = message_text(message.get("content"))
        reasoning = message.get("reasoning") or message.get("reasoning_content")
        if role == "assistant" and isinstance(reasoning, str) and reasoning:
            body = f"<think>\n{reasoning}\n</think>\n\n{body}"
        calls = message.get("tool_calls")
        # Whatever a client sent is rendered, never a crash: a list call by call, anything
        # else (a number, a string) as one call's text.
        for call in calls if isinstance(calls, list) else [calls] if calls else ():
            body += _render_tool_call(call)
        if role == "tool" and message.get("tool_call_id"):
            body = f"<tool_response id={message['tool_call_id']}>\n{body}\n</tool_response>"
        if continue_final_message and position == last:
            out.append(f"<|im_start|>{role}\n{body}")
        else:
            out.append(f"<|im_start|>{role}\n{body}<|im_end|>\n")
    if add_generation_prompt and not continue_final_message:
        out.append("<|im_start|>assistant\n")
        # Like Qwen3's template: thinking switched off renders an empty think block.
        if chat_template_kwargs and chat_template_kwargs.get("enable_thinking") is False:
            out.append("<think>\n\n</think>\n\n")
    return "".join(out)


def message_text(content: object) -> str:
    """The text of a message's content: a string, or its parts (text parts joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = []
        for part in content:
            if isinstance(part, Mapping):
                kind = part.get("type")
                if kind == "text" or (kind is None and "text" in part):
                    texts.append(str(part.get("text", "")))
                elif isinstance(kind, str) and kind.startswith("image"):
                    texts.append("<|image|>")
                elif kind == "input_audio":
                    texts.append("<|audio|>")
                else:
                    texts.append(_dump(part))
            else:
                texts.append(str(part))
        return "\n".join(texts)
    return _dump(content)


def _render_tool_call(call: object) -> str:
    if not isinstance(call, Mapping):
        return f"<tool_call>\n{_dump(call)}\n</tool_call>"
    function = call.get("function")
    if not isinstance(function, Mapping):
        return f"<tool_call>\n{_dump(call)}\n</tool_call>"
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = _dump(arguments)
    name = json.dumps(function.get("name", ""), ensure_ascii=False)
    return f'<tool_call>\n{{"name": {name}, "arguments": {arguments}}}\n</tool_call>'


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
