"""POST /tokenize and /detokenize (vLLM's extra endpoints), on the toy tokenizer.

`/tokenize` takes `{model?, prompt}` or `{model?, messages, tools?, add_generation_prompt?,
continue_final_message?, chat_template_kwargs?}` and answers
`{"count", "max_model_len", "tokens", "token_strs"}`. For messages it runs exactly the
computation behind a chat request's `usage.prompt_tokens`.
"""

from __future__ import annotations

from aiohttp import web

from autosred.sim.answers import dumps
from autosred.sim.chat import render_chat_body
from autosred.sim.errors import request_validation
from autosred.sim.params import check_model, require_object
from autosred.sim.records import RequestRecord
from autosred.sim.state import SimState


async def handle_tokenize(
    request: web.Request, state: SimState, record: RequestRecord
) -> web.Response:
    body = require_object(record.body, record.body_error)
    check_model(body, state.model)
    if "messages" in body:
        messages = body["messages"]
        if not isinstance(messages, list):
            raise request_validation(("messages",), "list_type", "Input should be a valid list")
        # The same rendering a chat request's usage.prompt_tokens is counted from.
        text = render_chat_body(body)
        tokens = state.tokenizer.encode(text)
    elif "prompt" in body:
        prompt = body["prompt"]
        if not isinstance(prompt, str):
            raise request_validation(("prompt",), "string_type", "Input should be a valid string")
        text = prompt
        tokens = state.tokenizer.encode(text)
    else:
        raise request_validation(("prompt",), "missing", "Field required")
    record.prompt_tokens = len(tokens)
    token_strs = state.tokenizer.pieces(text) if body.get("return_token_strs") else None
    return web.json_response(
        {
            "count": len(tokens),
            "max_model_len": state.config.max_model_len,
            "tokens": tokens,
            "token_strs": token_strs,
        },
        dumps=dumps,
    )


async def handle_detokenize(
    request: web.Request, state: SimState, record: RequestRecord
) -> web.Response:
    body = require_object(record.body, record.body_error)
    check_model(body, state.model)
    tokens = body.get("tokens")
    if not isinstance(tokens, list) or not all(
        isinstance(token, int) and not isinstance(token, bool) for token in tokens
    ):
        raise request_validation(("tokens",), "list_type", "Input should be a list of integers")
    return web.json_response({"prompt": state.tokenizer.decode(tokens)}, dumps=dumps)
