"""count_tokens: the same conversion as /v1/messages, tokenized by vLLM; and a fallback.

Claude Code (interactive ``/context``) sends ``{model, messages, tools}`` bodies. The count must
equal the prompt tokens of the real request, so the body goes through the very mapper
``/v1/messages`` uses and then to vLLM ``POST /tokenize`` with the same ``messages``, ``tools``
and ``chat_template_kwargs`` (docs/conformance.md, case 61). When /tokenize is unavailable the
estimate (shared: proxy/prompt.py) errs high, because an undercount makes Claude Code compact too
late (copilot-api PR#134).
"""

from __future__ import annotations

from typing import Any

from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.anthropic.request import HostedSupport, build_chat_body, checked_dumps
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.modelview import ModelView
from autosred.proxy.prompt import tokenize_body


def to_tokenize_request(
    body: object,
    *,
    recipe_view: ModelView,
    signer: ThinkingSigner,
    hosted: HostedSupport | None = None,
) -> dict[str, Any]:
    """The vLLM ``/tokenize`` body for a ``/v1/messages/count_tokens`` body.

    Raises ``AnthropicError`` (invalid_request_error) on malformed input, nothing else.
    ``max_tokens`` is not required; everything /v1/messages tolerates is tolerated
    (docs/conformance.md, case 62).
    """
    if not isinstance(body, dict):
        raise AnthropicError.invalid_request("The request body must be a JSON object")
    try:
        chat, _, _, _, _ = build_chat_body(
            body, recipe_view=recipe_view, signer=signer, require_max_tokens=False, hosted=hosted
        )
    except RecursionError:
        raise AnthropicError.invalid_request("The request body is nested too deeply") from None
    out = tokenize_body(chat)
    checked_dumps(out)
    return out


def count_tokens_response(input_tokens: int) -> dict[str, int]:
    """The ``/v1/messages/count_tokens`` reply."""
    return {"input_tokens": input_tokens}
