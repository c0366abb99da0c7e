"""vLLM-shaped rejections: context window, unknown model, malformed bodies, `error` specs."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from autosred.sim import SimConfig, SimHandle, running_sim

from .helpers import MODEL, WINDOW, directive, user


async def _post(
    http: aiohttp.ClientSession, sim: SimHandle, path: str, body: Any
) -> tuple[int, Any]:
    async with http.post(sim.url + path, json=body) as response:
        return response.status, await response.json()


async def _prompt_tokens(http: aiohttp.ClientSession, sim: SimHandle, text: str) -> int:
    status, body = await _post(http, sim, "/tokenize", {"model": MODEL, "messages": user(text)})
    assert status == 200
    count: int = body["count"]
    return count


async def test_context_window_boundary_is_exact(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    text = "fill the window " * 10
    prompt = await _prompt_tokens(http, sim, text)
    fits = {"model": MODEL, "messages": user(text), "max_tokens": WINDOW - prompt}
    status, _ = await _post(http, sim, "/v1/chat/completions", fits)
    assert status == 200

    over = {**fits, "max_tokens": WINDOW - prompt + 1}
    status, body = await _post(http, sim, "/v1/chat/completions", over)
    assert status == 400
    asked = WINDOW - prompt + 1
    assert body == {
        "error": {
            "message": (
                f"This model's maximum context length is {WINDOW} tokens. However, you "
                f"requested {asked} output tokens and your prompt contains {prompt} input "
                f"tokens, for a total of {WINDOW + 1} tokens. Please reduce the length of the "
                "input prompt or the number of requested output tokens. "
                f"(parameter=input_tokens, value={prompt})"
            ),
            "type": "BadRequestError",
            "param": "input_tokens",
            "code": 400,
        }
    }


async def test_oversized_prompt_reaches_the_sdk_as_bad_request(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.chat.completions.create(model=MODEL, messages=user("word " * WINDOW))
    assert caught.value.status_code == 400
    assert f"maximum context length is {WINDOW} tokens" in caught.value.message


async def test_max_tokens_larger_than_the_window(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    body = {"messages": user("hi"), "max_completion_tokens": WINDOW + 5}
    status, answer = await _post(http, sim, "/v1/chat/completions", body)
    assert status == 400
    assert answer["error"]["param"] == "max_completion_tokens"
    assert answer["error"]["message"].startswith(
        f"max_completion_tokens={WINDOW + 5} cannot be greater than "
        f"max_model_len=max_total_tokens={WINDOW}."
    )


async def test_unknown_model_is_a_404_with_vllms_message(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await oai.chat.completions.create(model="gpt-17", messages=user("hi"))
    assert caught.value.body == {
        "message": "The model `gpt-17` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": MODEL}, "'loc': ('body', 'messages'), 'msg': 'Field required'"),
        ({"messages": "hello"}, "Input should be a valid list"),
        ({"messages": [], "max_tokens": "many"}, "Input should be a valid integer"),
        ({"messages": [], "max_tokens": 0}, "max_tokens must be at least 1, got 0."),
        ({"messages": [], "stream_options": {"include_usage": True}}, "only be defined when"),
        ({"messages": [], "stop": 5}, "string or list of strings"),
    ],
)
async def test_malformed_chat_bodies_are_400(
    sim: SimHandle, http: aiohttp.ClientSession, body: dict[str, Any], fragment: str
) -> None:
    status, answer = await _post(http, sim, "/v1/chat/completions", body)
    assert status == 400
    assert answer["error"]["type"] == "BadRequestError"
    assert answer["error"]["code"] == 400
    assert fragment in answer["error"]["message"]


async def test_invalid_json_is_400(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    async with http.post(
        sim.url + "/v1/chat/completions",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    ) as response:
        answer = await response.json()
    assert response.status == 400
    assert "JSON decode error" in answer["error"]["message"]
    assert sim.requests()[-1]["body"] == "{not json"


async def test_error_spec_answers_that_status_with_the_envelope(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    spec = directive(error={"status": 503, "message": "engine is sleeping"}, text="unused")
    status, answer = await _post(http, sim, "/v1/chat/completions", {"messages": user(spec)})
    assert status == 503
    assert answer == {
        "error": {
            "message": "engine is sleeping",
            "type": "ServiceUnavailableError",
            "param": None,
            "code": 503,
        }
    }
    assert sim.requests()[-1]["status"] == "failed"
    assert sim.requests()[-1]["http_status"] == 503


async def test_error_spec_on_a_stream_comes_before_any_byte(oai: openai.AsyncOpenAI) -> None:
    spec = directive(error={"status": 500, "message": "boom", "type": "InternalServerError"})
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.chat.completions.create(model=MODEL, messages=user(spec), stream=True)
    assert caught.value.status_code == 500
    assert caught.value.message.endswith("boom") or "boom" in caught.value.message


async def test_malformed_directive_is_a_400_naming_the_problem(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    bad = "hi\n#sim {" + '"txet": "typo"}'
    status, answer = await _post(http, sim, "/v1/chat/completions", {"messages": user(bad)})
    assert status == 400
    assert "txet" in answer["error"]["message"]

    status, answer = await _post(
        http, sim, "/v1/chat/completions", {"messages": user("hi\n#sim {broken")}
    )
    assert status == 400
    assert "not valid JSON" in answer["error"]["message"]


async def test_unknown_route_looks_like_fastapi(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    async with http.get(sim.url + "/v1/nothing-here") as response:
        assert response.status == 404
        assert await response.json() == {"detail": "Not Found"}


async def test_api_key_is_enforced_on_v1_only(http: aiohttp.ClientSession) -> None:
    async with running_sim(SimConfig(api_key="s3cret")) as sim:
        async with http.get(sim.url + "/v1/models") as response:
            assert response.status == 401
            assert json.loads(await response.text()) == {"error": "Unauthorized"}
        headers = {"Authorization": "Bearer s3cret"}
        async with http.get(sim.url + "/v1/models", headers=headers) as response:
            assert response.status == 200
        async with http.get(sim.url + "/health") as response:
            assert response.status == 200
