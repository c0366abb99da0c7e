"""POST /v1/chat/completions, shaped like vLLM's OpenAI-compatible server.

Streaming: the first chunk is `delta: {"role": "assistant", "content": ""}`; then one chunk per
output piece (`delta.reasoning`, `delta.content`, or `delta.tool_calls`: a start chunk with
index, id, type, function{name, arguments: ""} then argument fragments); the last piece's chunk
carries `finish_reason` and `stop_reason`; with `stream_options.include_usage` a chunk with
`choices: []` and `usage` follows; then `data: [DONE]`. Chunks omit unset keys the way vLLM's
`model_dump_json(exclude_unset=True)` does. Non-streaming answers a "chat.completion".
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from autosred.sim.answers import dumps, faults_for, raise_spec_error, running_usage, usage_for
from autosred.sim.errors import request_validation
from autosred.sim.generation import Generation, Piece, plan
from autosred.sim.params import (
    GenerationParams,
    check_model,
    output_budget,
    parse_generation_params,
    require_object,
)
from autosred.sim.records import RequestRecord
from autosred.sim.replies import ReplySpec, SpecError, select_reply
from autosred.sim.state import SimState
from autosred.sim.streaming import (
    DONE_FRAME,
    Frames,
    answer_after_faults,
    generation_in_flight,
    send_stream,
    sse,
)
from autosred.sim.tokenizer import message_text, render_chat


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def tool_rounds(messages: list[Any]) -> int:
    """Assistant messages after the last user message: the rounds of an agent loop."""
    rounds = 0
    for message in reversed(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "user":
            break
        if role == "assistant":
            rounds += 1
    return rounds


def render_chat_body(body: dict[str, Any]) -> str:
    """The toy chat template applied to a request body (chat request or /tokenize)."""
    tools = body.get("tools")
    kwargs = body.get("chat_template_kwargs")
    return render_chat(
        body["messages"],
        tools=tools if isinstance(tools, list) else None,
        add_generation_prompt=body.get("add_generation_prompt", True) is not False,
        continue_final_message=body.get("continue_final_message") is True,
        chat_template_kwargs=kwargs if isinstance(kwargs, dict) else None,
    )


def chat_prompt_tokens(state: SimState, body: dict[str, Any]) -> int:
    """usage.prompt_tokens of a chat body; /tokenize with the same messages counts the same."""
    return state.tokenizer.count(render_chat_body(body))


async def handle_chat(
    request: web.Request, state: SimState, record: RequestRecord
) -> web.StreamResponse:
    body = require_object(record.body, record.body_error)
    messages = body.get("messages")
    if messages is None:
        raise request_validation(("messages",), "missing", "Field required")
    if not isinstance(messages, list):
        raise request_validation(("messages",), "list_type", "Input should be a valid list")
    params = parse_generation_params(body, chat=True, default_max_tokens=None)
    model = check_model(body, state.model)

    prompt = render_chat_body(body)
    prompt_tokens = state.tokenizer.count(prompt)  # as chat_prompt_tokens counts it
    record.prompt_tokens = prompt_tokens
    budget = output_budget(prompt_tokens, params, state.config.max_model_len)

    user_text = last_user_text(messages)
    try:
        spec = select_reply(user_text, state.script)
    except SpecError as exc:
        raise request_validation(("messages",), "sim_directive", str(exc)) from exc
    spec = (spec or ReplySpec()).for_round(tool_rounds(messages))

    number = state.next_generation_number()
    response_id = state.response_id("chatcmpl", number)
    record.response_id = response_id
    await raise_spec_error(request, spec)
    generation = plan(
        spec,
        user_text=user_text,
        stop=params.stop,
        max_tokens=budget,
        tool_id_seed=(state.config.seed, number),
    )
    record.finish_reason = generation.finish_reason
    usage = usage_for(spec, prompt_tokens, generation.completion_tokens)
    created = int(time.time())
    faults = faults_for(spec, state)

    async with generation_in_flight(state, record, prompt_tokens, prompt):
        if params.stream:
            frames = _frames(
                generation,
                response_id=response_id,
                created=created,
                model=model,
                params=params,
                usage=usage,
            )
            return await send_stream(
                request, state=state, record=record, frames=frames, faults=faults
            )
        await answer_after_faults(request, faults, generation.completion_tokens)
        if generation.completion_tokens:
            state.first_token(record.received_at)
        record.chunks_sent = generation.completion_tokens
        state.tokens_generated(generation.completion_tokens)
        return web.json_response(
            _completion_body(generation, response_id, created, model, usage),
            dumps=dumps,
        )


def _delta(piece: Piece, generation: Generation) -> str:
    if piece.kind == "content":
        return '{"content":' + dumps(piece.text) + "}"
    if piece.kind == "reasoning":
        return '{"reasoning":' + dumps(piece.text) + "}"
    if piece.kind == "tool_start":
        call = generation.tool_calls[piece.tool_index]
        start = {
            "index": piece.tool_index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        return '{"tool_calls":[' + dumps(start) + "]}"
    fragment = {"index": piece.tool_index, "function": {"arguments": piece.text}}
    return '{"tool_calls":[' + dumps(fragment) + "]}"


def _frames(
    generation: Generation,
    *,
    response_id: str,
    created: int,
    model: str,
    params: GenerationParams,
    usage: dict[str, int],
) -> Frames:
    # Serialised by hand around a fixed prefix: the hot path of every benchmark.
    prefix = (
        f'{{"id":"{response_id}","object":"chat.completion.chunk","created":{created},'
        f'"model":{dumps(model)},"choices":[{{"index":0,"delta":'
    )
    open_tail = ',"logprobs":null,"finish_reason":null}]'
    final_tail = (
        f',"logprobs":null,"finish_reason":{dumps(generation.finish_reason)},'
        f'"stop_reason":{dumps(generation.stop_reason)}}}]'
    )
    reported_prompt = usage["prompt_tokens"]

    def usage_suffix(completion: int) -> str:
        if not params.continuous_usage:
            return "}"
        return ',"usage":' + running_usage(reported_prompt, completion) + "}"

    frames = Frames()
    frames.head.append(
        sse(prefix + '{"role":"assistant","content":""}' + open_tail + usage_suffix(0))
    )
    pieces = generation.pieces
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        tail = final_tail if index == last else open_tail
        frames.body.append(sse(prefix + _delta(piece, generation) + tail + usage_suffix(index + 1)))
    if not pieces:
        frames.tail.append(sse(prefix + '{"content":""}' + final_tail + usage_suffix(0)))
    if params.include_usage:
        frames.tail.append(
            sse(
                f'{{"id":"{response_id}","object":"chat.completion.chunk","created":{created},'
                f'"model":{dumps(model)},"choices":[],"usage":{dumps(usage)}}}'
            )
        )
    frames.tail.append(DONE_FRAME)
    return frames


def _completion_body(
    generation: Generation, response_id: str, created: int, model: str, usage: dict[str, int]
) -> dict[str, Any]:
    tool_calls = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": generation.arguments[index]},
        }
        for index, call in enumerate(generation.tool_calls)
    ]
    content: str | None = generation.content
    if tool_calls and not content:
        content = None
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
    }
    if tool_calls:  # vLLM's ChatMessage serializer drops an empty tool_calls list
        message["tool_calls"] = tool_calls
    message["reasoning"] = generation.reasoning
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": generation.finish_reason,
                "stop_reason": generation.stop_reason,
                "token_ids": None,
            }
        ],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": {**usage, "prompt_tokens_details": None},
        "prompt_logprobs": None,
        "prompt_token_ids": None,
        "kv_transfer_params": None,
    }
