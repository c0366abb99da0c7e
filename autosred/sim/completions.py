"""POST /v1/completions ("text_completion"), shaped like vLLM's server.

`prompt` may be a string, a list of strings, a list of token ids or a list of such lists; each
prompt is one choice (index = its position) with its own reply selection. Only text is
generated here (reasoning and tool calls of a spec are ignored). As in vLLM, `max_tokens`
defaults to 16 on this endpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from autosred.sim.answers import dumps, faults_for, raise_spec_error, running_usage, usage_for
from autosred.sim.errors import request_validation
from autosred.sim.generation import Generation, plan
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
    Faults,
    Frames,
    answer_after_faults,
    generation_in_flight,
    send_stream,
    sse,
)

COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # vLLM's CompletionRequest.max_tokens default


@dataclass(frozen=True, slots=True)
class _Prompt:
    text: str
    tokens: int


def prompts_of(state: SimState, value: object) -> list[_Prompt]:
    tokenizer = state.tokenizer
    if isinstance(value, str):
        return [_Prompt(value, tokenizer.count(value))]
    if isinstance(value, list) and value:
        if all(isinstance(item, str) for item in value):
            return [_Prompt(item, tokenizer.count(item)) for item in value]
        if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            return [_Prompt(tokenizer.decode(value), len(value))]
        if all(isinstance(item, list) for item in value):
            return [prompts_of(state, item)[0] for item in value]
    raise request_validation(
        ("prompt",), "union_type", "Input should be a string, a list of strings or token ids"
    )


async def handle_completions(
    request: web.Request, state: SimState, record: RequestRecord
) -> web.StreamResponse:
    body = require_object(record.body, record.body_error)
    if "prompt" not in body:
        raise request_validation(("prompt",), "missing", "Field required")
    params = parse_generation_params(
        body, chat=False, default_max_tokens=COMPLETIONS_DEFAULT_MAX_TOKENS
    )
    model = check_model(body, state.model)
    prompts = prompts_of(state, body["prompt"])
    prompt_tokens = sum(prompt.tokens for prompt in prompts)
    record.prompt_tokens = prompt_tokens
    budgets = [output_budget(p.tokens, params, state.config.max_model_len) for p in prompts]

    number = state.next_generation_number()
    response_id = state.response_id("cmpl", number)
    record.response_id = response_id
    specs: list[ReplySpec] = []
    for prompt in prompts:
        try:
            spec = select_reply(prompt.text, state.script) or ReplySpec()
        except SpecError as exc:
            raise request_validation(("prompt",), "sim_directive", str(exc)) from exc
        await raise_spec_error(request, spec)
        specs.append(spec)
    generations = [
        plan(
            spec,
            user_text=prompt.text,
            stop=params.stop,
            max_tokens=budget,
            tool_id_seed=(state.config.seed, number),
            allow_tools=False,
            allow_reasoning=False,
        )
        for spec, prompt, budget in zip(specs, prompts, budgets, strict=True)
    ]
    record.finish_reason = generations[-1].finish_reason
    completion_tokens = sum(generation.completion_tokens for generation in generations)
    usage = usage_for(specs[0], prompt_tokens, completion_tokens)
    created = int(time.time())
    faults: Faults = faults_for(specs[0], state)

    prompt_text = "".join(p.text for p in prompts)
    async with generation_in_flight(state, record, prompt_tokens, prompt_text):
        if params.stream:
            frames = _frames(
                generations,
                response_id=response_id,
                created=created,
                model=model,
                params=params,
                usage=usage,
            )
            return await send_stream(
                request, state=state, record=record, frames=frames, faults=faults
            )
        await answer_after_faults(request, faults, completion_tokens)
        if completion_tokens:
            state.first_token(record.received_at)
        record.chunks_sent = completion_tokens
        state.tokens_generated(completion_tokens)
        return web.json_response(
            _body(generations, response_id, created, model, usage), dumps=dumps
        )


def _frames(
    generations: list[Generation],
    *,
    response_id: str,
    created: int,
    model: str,
    params: GenerationParams,
    usage: dict[str, int],
) -> Frames:
    head = (
        f'{{"id":"{response_id}","object":"text_completion","created":{created},'
        f'"model":{dumps(model)},"choices":['
    )
    frames = Frames()
    sent = 0
    for index, generation in enumerate(generations):
        texts = [piece.text for piece in generation.pieces] or [""]
        last = len(texts) - 1
        for position, text in enumerate(texts):
            if position == last:
                ending = (
                    f'"finish_reason":{dumps(generation.finish_reason)},'
                    f'"stop_reason":{dumps(generation.stop_reason)}'
                )
            else:
                ending = '"finish_reason":null'
            choice = f'{{"index":{index},"text":{dumps(text)},"logprobs":null,{ending}}}'
            if generation.pieces:
                sent += 1
            extra = ""
            if params.continuous_usage:
                extra = ',"usage":' + running_usage(usage["prompt_tokens"], sent)
            frame = sse(head + choice + "]" + extra + "}")
            frames.body.append(frame)
    if params.include_usage:
        frames.tail.append(
            sse(
                f'{{"id":"{response_id}","object":"text_completion","created":{created},'
                f'"model":{dumps(model)},"choices":[],"usage":{dumps(usage)}}}'
            )
        )
    frames.tail.append(DONE_FRAME)
    return frames


def _body(
    generations: list[Generation],
    response_id: str,
    created: int,
    model: str,
    usage: dict[str, int],
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": index,
                "text": generation.content,
                "logprobs": None,
                "finish_reason": generation.finish_reason,
                "stop_reason": generation.stop_reason,
                "prompt_logprobs": None,
            }
            for index, generation in enumerate(generations)
        ],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": {**usage, "prompt_tokens_details": None},
        "kv_transfer_params": None,
    }
