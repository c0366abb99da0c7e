"""Checklist G of docs/conformance.md (cases 60-66), priority rules, token metrics and the
thinking key file."""

from __future__ import annotations

import stat
from typing import Any

import aiohttp
import pytest

from tests.proxy.anthropic_http.support import (
    ANTHROPIC_HEADERS,
    BATCH_TOKEN,
    TOKEN,
    Api,
    assert_error_envelope,
    body,
    sim,
)
from tests.support.daemon import metric_value

pytestmark = pytest.mark.asyncio(loop_scope="package")

BEARER = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
TOOLS = [
    {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
]
SYSTEM = [
    {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.1c0;"},
    {"type": "text", "text": "You are a coding agent.", "cache_control": {"type": "ephemeral"}},
]


async def count(api: Api, payload: dict[str, Any]) -> int:
    reply = await api.post("/v1/messages/count_tokens?beta=true", payload)
    assert reply.status == 200, reply.text
    assert set(reply.json) == {"input_tokens"}
    tokens: int = reply.json["input_tokens"]
    return tokens


# ------------------------------------------------------------------------------ count_tokens


async def test_case_60_count_tokens_shape(api: Api) -> None:
    payload = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "foo"}]}
    assert await count(api, {**payload, "system": "S", "tools": TOOLS}) > 0
    reply = await api.post("/v1/messages/count_tokens", payload)  # without ?beta=true
    assert reply.status == 200 and reply.json["input_tokens"] > 0


async def test_case_61_count_equals_the_prompt_tokens_of_the_request(api: Api) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "list the files"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Sure."},
                {"type": "tool_use", "id": "T1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "T1", "content": "a b"}],
        },
    ]
    fields = {
        "messages": messages,
        "system": SYSTEM,
        "tools": TOOLS,
        "thinking": {"type": "enabled", "budget_tokens": 1000},
    }
    counted = await count(api, {"model": "claude-sonnet-4-5", **fields})
    reply = await api.message(body(**fields))
    assert reply.status == 200
    record = await api.upstream(reply.request_id)
    assert counted == record["prompt_tokens"] == reply.json["usage"]["input_tokens"]


async def test_case_62_count_tolerates_what_messages_tolerates(api: Api) -> None:
    payload = {
        "model": "claude-opus-4-8",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "inline reminder"},
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                    {
                        "type": "text",
                        "text": "what is this",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
        ],
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "tools": TOOLS,
    }
    assert await count(api, payload) > 0


async def test_case_63_without_tokenize_an_estimate_that_errs_high(api: Api) -> None:
    payload = {"model": "notok-1", "messages": [{"role": "user", "content": "word " * 300}]}
    estimate = await count(api, payload)
    exact = await count(api, {**payload, "model": "claude-sonnet-4-5"})
    assert estimate >= exact
    logged = api.daemon.events_named("anthropic.count_estimated")
    assert logged and logged[-1]["model"] == "notok"
    assert any(e["model"] == "notok" for e in api.daemon.events_named("proxy.tokenize_unavailable"))


async def test_count_tokens_errors_are_anthropic_shaped(api: Api) -> None:
    reply = await api.post("/v1/messages/count_tokens", {"model": "gpt-nope", "messages": []})
    assert_error_envelope(reply, 404, "not_found_error")
    reply = await api.post("/v1/messages/count_tokens", {"model": "claude-x", "messages": "x"})
    assert_error_envelope(reply, 400, "invalid_request_error")
    reply = await api.post("/v1/messages/count_tokens", body(model="capped-1"))
    assert_error_envelope(reply, 529, "overloaded_error")


# ------------------------------------------------------------------------------ models, HEAD


async def test_case_64_models_in_the_anthropic_shape(api: Api) -> None:
    reply = await api.request("GET", "/v1/models", headers=api.headers(**ANTHROPIC_HEADERS))
    assert reply.status == 200
    listing = reply.json
    assert set(listing) == {"data", "has_more", "first_id", "last_id"}
    ids = [entry["id"] for entry in listing["data"]]
    assert ids[0] == "claude-sonnet-4-5"  # the label first
    for entry in listing["data"]:
        assert set(entry) == {"type", "id", "display_name", "created_at"}
        assert entry["type"] == "model"
        assert entry["created_at"].endswith("Z") and entry["created_at"][4] == "-"
    assert listing["first_id"] == ids[0] and listing["last_id"] == ids[-1]
    page = (
        await api.request("GET", "/v1/models?limit=1", headers=api.headers(**ANTHROPIC_HEADERS))
    ).json
    assert [e["id"] for e in page["data"]] == [ids[0]] and page["has_more"] is True
    following = await api.request(
        "GET", f"/v1/models?limit=2&after_id={ids[0]}", headers=api.headers(**ANTHROPIC_HEADERS)
    )
    assert [e["id"] for e in following.json["data"]] == ids[1:3]
    # x-api-key alone (the SDK's auth header) also selects the Anthropic shape.
    keyed = await api.request("GET", "/v1/models", headers=api.headers())
    assert keyed.json == listing
    bad = await api.request("GET", "/v1/models?limit=0", headers=api.headers(**ANTHROPIC_HEADERS))
    assert_error_envelope(bad, 400, "invalid_request_error")


async def test_case_65_models_in_the_openai_shape_and_by_id(api: Api) -> None:
    reply = await api.request("GET", "/v1/models", headers=BEARER)
    assert reply.status == 200
    assert reply.json["object"] == "list"
    first = reply.json["data"][0]
    assert {"id", "object", "created", "owned_by"} <= set(first)
    assert first["object"] == "model"
    assert "claude-sonnet-4-5" in [m["id"] for m in reply.json["data"]]
    one = await api.request("GET", "/v1/models/claude-opus-4-8", headers=BEARER)
    assert one.status == 200 and one.json["id"] == "claude-opus-4-8"
    assert one.json["object"] == "model"
    one = await api.request(
        "GET", "/v1/models/claude-opus-4-8", headers=api.headers(**ANTHROPIC_HEADERS)
    )
    assert one.json["type"] == "model" and one.json["id"] == "claude-opus-4-8"
    missing = await api.request("GET", "/v1/models/gpt-nope", headers=BEARER)
    assert missing.status == 404 and missing.json["error"]["code"] == "model_not_found"
    missing = await api.request(
        "GET", "/v1/models/gpt-nope", headers=api.headers(**ANTHROPIC_HEADERS)
    )
    assert_error_envelope(missing, 404, "not_found_error")


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/"), ("GET", "/"), ("HEAD", "/api/hello")])
async def test_case_66_preflights_answer_200_without_a_token(
    api: Api, method: str, path: str
) -> None:
    async with api.session.request(
        method, api.url + path, headers={"User-Agent": "Bun/1.4.0"}
    ) as response:
        assert response.status == 200
        assert response.headers["request-id"].startswith("req_")


async def test_health_names_the_models_only_to_a_client_with_a_token(api: Api) -> None:
    """The probe answers anyone; what the box serves and whether it is busy is for clients."""
    async with api.session.get(api.url + "/health") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    wrong = {"Authorization": "Bearer not-a-token"}
    async with api.session.get(api.url + "/health", headers=wrong) as response:
        assert await response.json() == {"status": "ok"}
    async with api.session.get(api.url + "/health", headers=BEARER) as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert {"sim", "text", "notok", "fragile", "broken", "capped"} == set(body["models"])


# ------------------------------------------------------------------------------ priority


@pytest.mark.parametrize(
    ("model", "headers", "token", "priority"),
    [
        ("claude-sonnet-5", {}, TOKEN, None),
        ("claude-haiku-4-5-20251001", {}, TOKEN, 10),
        (
            "claude-sonnet-5",
            {"anthropic-beta": "claude-code-20250219,structured-outputs-2025-12-15"},
            TOKEN,
            5,
        ),
        ("claude-sonnet-5", {}, BATCH_TOKEN, 20),
        ("claude-haiku-4-5", {}, BATCH_TOKEN, 10),  # first match wins
    ],
    ids=["main-turn", "haiku", "title-request", "batch-client", "first-match"],
)
async def test_priority_rules_on_the_anthropic_surface(
    api: Api, model: str, headers: dict[str, str], token: str, priority: int | None
) -> None:
    reply = await api.message(body(model=model), headers=api.headers(token=token, **headers))
    assert reply.status == 200, reply.text
    sent = await api.upstream_body(reply.request_id)
    assert sent.get("priority") == priority
    if priority is not None:
        assert list(sent)[-1] == "priority"  # appended: the prompt prefix bytes stay put


@pytest.mark.parametrize(("model", "priority"), [("sim-served", None), ("claude-haiku-4-5", 10)])
async def test_priority_rules_on_the_openai_pass_through(
    api: Api, model: str, priority: int | None
) -> None:
    payload = {"model": model, "messages": [{"role": "user", "content": sim(text="ok")}]}
    async with api.session.post(
        api.url + "/v1/chat/completions", json=payload, headers=BEARER
    ) as response:
        assert response.status == 200
        request_id = response.headers["request-id"]
    sent = await api.upstream_body(request_id)  # the pass-through sends X-Request-Id too
    assert sent.get("priority") == priority
    assert sent["model"] == "sim-served"


# ------------------------------------------------------------------------------ metrics, key


async def test_tokens_are_counted_per_client_and_model(api: Api) -> None:
    before = await api.daemon.metrics()
    reply = await api.message(
        body(content=sim(text="four words of output")), headers=api.headers(token=BATCH_TOKEN)
    )
    usage = reply.json["usage"]
    after = await api.daemon.metrics()
    labels = {"client": "batch", "model": "sim"}
    grew_in = metric_value(
        after, "autosred_tokens_total", direction="input", **labels
    ) - metric_value(before, "autosred_tokens_total", direction="input", **labels)
    grew_out = metric_value(
        after, "autosred_tokens_total", direction="output", **labels
    ) - metric_value(before, "autosred_tokens_total", direction="output", **labels)
    assert grew_in == usage["input_tokens"] and grew_out == usage["output_tokens"]
    assert (
        metric_value(after, "autosred_requests_total", api="anthropic", model="sim", status="200")
        > 0
    )


async def test_thinking_key_is_persisted_0600(api: Api) -> None:
    key = api.daemon.config_path.parent / "state" / "thinking-signature.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32


async def test_request_id_header_on_every_answer(api: Api) -> None:
    async with aiohttp.ClientSession() as session:
        for method, path in (("GET", "/health"), ("GET", "/nowhere"), ("POST", "/v1/messages")):
            async with session.request(method, api.url + path, headers=BEARER) as response:
                assert response.headers["request-id"].startswith("req_")
