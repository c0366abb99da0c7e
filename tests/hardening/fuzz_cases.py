"""The fuzz run's cases: request bodies drawn by hypothesis for every endpoint, the same
bodies mangled at the byte level, raw heads with bytes no header may hold, and a fixed list
of deliberately nasty requests (among them each kind that once got a 500 with a traceback: a
non-UTF-8 byte in a token header, a lone surrogate, a corrupt gzip or deflate body).

A case is the raw bytes of one HTTP/1.1 request, so that nothing (no client library) cleans
it up on the way.
"""

from __future__ import annotations

import gzip
import json
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.proxy.strategies import json_values, junk_or

Target = Literal["api", "metrics", "admin"]

POST_ENDPOINTS = (
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
)
GET_ENDPOINTS = ("/v1/models", "/v1/models/sim", "/v1/models/%00%ff", "/health", "/api/hello", "/")
METRICS_ENDPOINTS = ("/metrics", "/healthz", "/readyz", "/nope")
ADMIN_READS = ("/v1/version", "/v1/status", "/v1/models", "/v1/running", "/v1/models/sim")
MODELS = ("sim", "sim-alias", "sim-glob-x", "claude-sonnet-4-5", "gpt-5", "", "nope")
TOKEN = "fuzz-token"
"""The daemon under fuzz requires this client token (so the token header path is exercised)."""


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    target: Target = "api"
    head: bool = False
    """A HEAD request: the answer has no body."""
    fresh: bool = False
    """Sent on a connection of its own whose write side is then closed (truncated bodies)."""
    upstream_error: int | None = None
    """The status the simulator is scripted to fail with (the daemon may answer 5xx)."""


def request(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    length: bool = True,
    token: bool = True,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode("latin-1"), b"Host: fuzz"]
    if token:
        lines.append(f"x-api-key: {TOKEN}".encode())
    for name, value in headers or [(b"Content-Type", b"application/json")]:
        lines.append(name + b": " + value)
    if length and (body or method in {"POST", "PUT", "PATCH"}):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def encode(value: Any, *, ascii_only: bool) -> bytes:
    """JSON bytes; lone surrogates become \\udXXX escapes (ascii_only) or the invalid UTF-8
    bytes a careless encoder writes."""
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode(
        "utf-8", "surrogatepass"
    )


# ------------------------------------------------------------------ hypothesis strategies

nasty_text = st.text(
    alphabet=st.characters(codec=None) | st.sampled_from(["\ud800", "\udfff", "\x00", "\u2028"]),
    max_size=24,
)
models = junk_or(st.sampled_from(MODELS))
anything = json_values | nasty_text
block = st.fixed_dictionaries(
    {
        "type": junk_or(
            st.sampled_from(
                ["text", "image", "document", "tool_use", "tool_result", "thinking", "input_text"]
            )
        )
    },
    optional={
        "text": junk_or(nasty_text),
        "source": anything,
        "id": junk_or(nasty_text),
        "name": junk_or(nasty_text),
        "input": anything,
        "content": anything,
        "tool_use_id": junk_or(nasty_text),
        "thinking": junk_or(nasty_text),
        "signature": junk_or(nasty_text),
        "cache_control": anything,
    },
)
content = junk_or(nasty_text | st.lists(block, max_size=3))
message = st.fixed_dictionaries(
    {"role": junk_or(st.sampled_from(["user", "assistant", "system", "tool", "developer"]))},
    optional={"content": content, "tool_calls": anything, "name": anything},
)
messages = junk_or(st.lists(message, min_size=1, max_size=3))
common = {
    "stream": junk_or(st.booleans()),
    "temperature": anything,
    "tools": junk_or(st.lists(st.dictionaries(st.sampled_from(["name", "type"]), anything))),
    "tool_choice": anything,
    "metadata": anything,
}
BODIES: dict[str, st.SearchStrategy[Any]] = {
    "/v1/messages": st.fixed_dictionaries(
        {"model": models, "max_tokens": junk_or(st.integers(-5, 2**40)), "messages": messages},
        optional={
            **common,
            "system": content,
            "thinking": anything,
            "stop_sequences": anything,
            "output_config": anything,
        },
    ),
    "/v1/messages/count_tokens": st.fixed_dictionaries(
        {"model": models, "messages": messages}, optional={"system": content, "tools": anything}
    ),
    "/v1/responses": st.fixed_dictionaries(
        {"model": models, "input": junk_or(nasty_text | st.lists(message | block, max_size=3))},
        optional={
            **common,
            "instructions": junk_or(nasty_text),
            "store": anything,
            "previous_response_id": junk_or(nasty_text),
            "reasoning": anything,
            "max_output_tokens": anything,
            "include": anything,
        },
    ),
    "/v1/chat/completions": st.fixed_dictionaries(
        {"model": models, "messages": messages},
        optional={**common, "max_tokens": anything, "stream_options": anything, "n": anything},
    ),
    "/v1/completions": st.fixed_dictionaries(
        {"model": models, "prompt": junk_or(nasty_text | st.lists(nasty_text, max_size=3))},
        optional={"max_tokens": anything, "stream": junk_or(st.booleans()), "echo": anything},
    ),
    "/v1/embeddings": st.fixed_dictionaries(
        {"model": models, "input": junk_or(nasty_text | st.lists(nasty_text, max_size=3))},
        optional={"encoding_format": anything, "dimensions": anything},
    ),
}
body_case = st.sampled_from(POST_ENDPOINTS).flatmap(
    lambda path: st.tuples(st.just(path), BODIES[path], st.booleans())
)
header_bytes = st.binary(min_size=0, max_size=24)
header_case = st.tuples(
    st.sampled_from(["GET", "POST", "HEAD"]),
    st.sampled_from(POST_ENDPOINTS + GET_ENDPOINTS),
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    b"x-api-key",
                    b"Authorization",
                    b"anthropic-version",
                    b"anthropic-beta",
                    b"Content-Type",
                    b"Accept",
                    b"User-Agent",
                    b"x-request-id",
                    b"X-Junk",
                ]
            )
            | st.binary(min_size=1, max_size=8).filter(lambda b: b":" not in b),
            header_bytes,
        ),
        max_size=4,
    ),
)


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy`` (fewer if hypothesis runs out), generated by
    hypothesis' engine with a fixed seed: the same cases on every run."""
    examples: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        examples.append(example)

    collect()
    return examples


# -------------------------------------------------------------------------------- the cases


def hypothesis_cases(bodies: int, heads: int) -> Iterator[Case]:
    for index, (path, value, ascii_only) in enumerate(drawn(body_case, bodies)):
        yield Case(
            f"body#{index} {path}", request("POST", path, encode(value, ascii_only=ascii_only))
        )
    for index, (method, path, headers) in enumerate(drawn(header_case, heads)):
        yield Case(
            f"head#{index} {method} {path}",
            request(method, path, b"{}" if method == "POST" else b"", headers=headers, token=False),
            head=method == "HEAD",
        )


def valid_bodies() -> dict[str, dict[str, Any]]:
    user = [{"role": "user", "content": "hello"}]
    return {
        "/v1/messages": {"model": "sim", "max_tokens": 16, "messages": user},
        "/v1/messages/count_tokens": {"model": "sim", "messages": user},
        "/v1/responses": {"model": "sim", "input": "hello", "max_output_tokens": 16},
        "/v1/chat/completions": {"model": "sim", "messages": user, "max_tokens": 16},
        "/v1/completions": {"model": "sim", "prompt": "hello", "max_tokens": 16},
        "/v1/embeddings": {"model": "sim", "input": "hello"},
    }


def mutated_cases(count: int, seed: int = 8) -> Iterator[Case]:
    """Valid bodies (streaming or not) with bytes flipped, cut, repeated or inserted."""
    rng = random.Random(seed)
    bodies = valid_bodies()
    mutations: list[Callable[[bytearray], None]] = [
        lambda b: b.__setitem__(rng.randrange(len(b)), rng.randrange(256)),
        lambda b: b.__delitem__(slice(rng.randrange(len(b)), None)),
        lambda b: b.__setitem__(slice(rng.randrange(len(b)), rng.randrange(len(b) + 1)), b""),
        lambda b: b.insert(rng.randrange(len(b)), rng.choice(b'"\\{}[],:\x00\xff\xed')),
        lambda b: b.extend(b[: rng.randrange(len(b))]),
    ]
    for index in range(count):
        path = rng.choice(POST_ENDPOINTS)
        value = dict(bodies[path])
        if path != "/v1/embeddings" and rng.random() < 0.5:
            value["stream"] = True
        body = bytearray(encode(value, ascii_only=True))
        for _ in range(rng.randint(1, 3)):
            if body:
                rng.choice(mutations)(body)
        yield Case(f"mutated#{index} {path}", request("POST", path, bytes(body)))


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nasty_cases() -> Iterator[Case]:
    """Each request that once got a 500 (bad header bytes, lone surrogates, corrupt or
    mislabelled encodings), and its neighbours, on every endpoint."""
    bodies = valid_bodies()
    json_type = [(b"Content-Type", b"application/json")]
    for path in POST_ENDPOINTS:
        good = encode(bodies[path], ascii_only=True)
        surrogate = dict(bodies[path])
        surrogate["model"] = "sim"
        for key in ("messages", "input", "prompt"):
            if key in surrogate:
                surrogate[key] = (
                    [{"role": "user", "content": "a\ud800b"}] if key == "messages" else "a\udfffb"
                )
        for name, headers, body in [
            ("token not utf-8", [(b"x-api-key", b"\xff\xfe\xfd"), *json_type], good),
            ("bearer not utf-8", [(b"Authorization", b"Bearer \xc3\x28\xa0"), *json_type], good),
            (
                "anthropic-version not utf-8",
                [(b"anthropic-version", b"\x80\x81"), *json_type],
                good,
            ),
            ("content-type not utf-8", [(b"Content-Type", b"application/\xffjson")], good),
            ("beta header junk", [(b"anthropic-beta", b"\xf0\x28\x8c\x28,,,"), *json_type], good),
            ("lone surrogate escaped", json_type, encode(surrogate, ascii_only=True)),
            ("lone surrogate raw", json_type, encode(surrogate, ascii_only=False)),
            ("corrupt gzip", [*json_type, (b"Content-Encoding", b"gzip")], b"\x1f\x8b\x08junk"),
            (
                "truncated gzip",
                [*json_type, (b"Content-Encoding", b"gzip")],
                gzip.compress(good)[:-9],
            ),
            ("corrupt deflate", [*json_type, (b"Content-Encoding", b"deflate")], b"x\x9cjunk!!"),
            ("gzip said, plain sent", [*json_type, (b"Content-Encoding", b"gzip")], good),
            ("br said, junk sent", [*json_type, (b"Content-Encoding", b"br")], b"\x00junk"),
            ("zstd said, junk sent", [*json_type, (b"Content-Encoding", b"zstd")], b"(\xb5/\xfd"),
            ("unknown encoding", [*json_type, (b"Content-Encoding", b"rot13")], good),
            ("good gzip", [*json_type, (b"Content-Encoding", b"gzip")], gzip.compress(good)),
            ("good deflate", [*json_type, (b"Content-Encoding", b"deflate")], zlib.compress(good)),
            (
                "gzip bomb",
                [*json_type, (b"Content-Encoding", b"gzip")],
                gzip.compress(b" " * 5_000_000),
            ),
            ("deep array", json_type, _deep(100_000)),
            ("deep object", json_type, b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
            (
                "deep in messages",
                json_type,
                b'{"model":"sim","max_tokens":5,"messages":' + _deep(50_000) + b"}",
            ),
            (
                "huge string",
                json_type,
                encode({"model": "sim", "messages": "x" * 900_000}, ascii_only=True),
            ),
            ("over the body limit", json_type, b'{"model":"' + b"x" * 1_100_000 + b'"}'),
            ("huge number", json_type, b'{"model":"sim","max_tokens":' + b"9" * 5000 + b"}"),
            (
                "NaN and Infinity",
                json_type,
                b'{"model":"sim","max_tokens":NaN,"temperature":Infinity,"messages":[]}',
            ),
            ("duplicate keys", json_type, b'{"model":"sim","model":7,"messages":[],"messages":{}}'),
            ("text/plain", [(b"Content-Type", b"text/plain")], good),
            ("form", [(b"Content-Type", b"application/x-www-form-urlencoded")], b"model=sim&a=%ff"),
            (
                "multipart",
                [(b"Content-Type", b"multipart/form-data; boundary=x")],
                b"--x\r\n\r\n--x--",
            ),
            ("no content type", [], good),
            ("empty body", json_type, b""),
            ("json null", json_type, b"null"),
            ("json array", json_type, b"[1,2]"),
            ("json string", json_type, b'"hi"'),
            ("bom", json_type, b"\xef\xbb\xbf" + good),
            ("utf-16", json_type, json.dumps(bodies[path]).encode("utf-16")),
            ("nul bytes", json_type, good.replace(b"hello", b"he\x00llo")),
        ]:
            yield Case(f"nasty {name} {path}", request("POST", path, body, headers=headers))
        yield Case(
            f"nasty chunked body {path}",
            request(
                "POST",
                path,
                b"5\r\n" + good[:5] + b"\r\nZZ\r\n",
                headers=[*json_type, (b"Transfer-Encoding", b"chunked")],
                length=False,
            ),
        )
        yield Case(
            f"nasty both lengths {path}",
            request("POST", path, good, headers=[*json_type, (b"Transfer-Encoding", b"chunked")]),
        )
        yield Case(
            f"nasty expect 100 {path}",
            request("POST", path, good, headers=[*json_type, (b"Expect", b"100-continue")]),
        )
        for cut in (1, len(good) // 2):
            yield Case(
                f"nasty truncated body {cut} {path}",
                request("POST", path, good)[:-cut],
                fresh=True,
            )
        for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
            yield Case(f"nasty {method} {path}", request(method, path, good))
        for status in (502, 503, 529, 500, 429):
            spec = {"error": {"status": status, "message": f"scripted {status}"}}
            value = dict(bodies[path])
            if path == "/v1/embeddings":
                continue
            text = "#sim " + json.dumps(spec)
            if "messages" in value:
                value["messages"] = [{"role": "user", "content": text}]
            else:
                value["input" if path == "/v1/responses" else "prompt"] = text
            for stream in (False, True):
                if stream:
                    if path == "/v1/messages/count_tokens":
                        continue
                    value = {**value, "stream": True}
                yield Case(
                    f"upstream {status} stream={stream} {path}",
                    request("POST", path, encode(value, ascii_only=True)),
                    upstream_error=status,
                )
    for path in GET_ENDPOINTS:
        yield Case(f"nasty HEAD {path}", request("HEAD", path), head=True)
        yield Case(f"nasty GET with body {path}", request("GET", path, b'{"x":1}'))
        yield Case(f"nasty query {path}", request("GET", path + "?a=%ff%fe&b=\x7f&&=="))
    yield Case("nasty HEAD / without token", request("HEAD", "/", token=False), head=True)
    yield Case("nasty long header", request("GET", "/health", headers=[(b"X-Long", b"a" * 9000)]))
    yield Case(
        "nasty many headers",
        request("GET", "/health", headers=[(b"X-%d" % i, b"v") for i in range(200)]),
    )
    yield Case("nasty header no colon", b"GET /health HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n")
    yield Case("nasty obs-fold", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n")
    yield Case("nasty bad request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
    yield Case("nasty http/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    yield Case(
        "nasty absolute uri",
        b"GET http://evil/v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: "
        + TOKEN.encode()
        + b"\r\n\r\n",
    )
    yield Case("nasty path traversal", request("GET", "/../../etc/passwd"))
    yield Case("nasty http/1.0", b"GET /health HTTP/1.0\r\n\r\n")
    for path in METRICS_ENDPOINTS:
        yield Case(f"metrics GET {path}", request("GET", path, token=False), target="metrics")
        yield Case(
            f"metrics POST {path}",
            request("POST", path, b"\xff" * 10, token=False),
            target="metrics",
        )
        yield Case(
            f"metrics HEAD {path}", request("HEAD", path, token=False), target="metrics", head=True
        )
    for path in ADMIN_READS:
        yield Case(f"admin GET {path}", request("GET", path, token=False), target="admin")
        yield Case(
            f"admin GET {path} non-utf-8 header",
            request("GET", path, headers=[(b"Accept", b"\xff\xfe")], token=False),
            target="admin",
        )
    for body in (b"", b"{", b"null", b"[]", b'{"replicas": "x"}', b"\xff\xfe", _deep(50_000)):
        yield Case(
            f"admin POST scale {body[:12]!r}",
            request("POST", "/v1/models/nope/scale", body, token=False),
            target="admin",
        )


def random_head_cases(count: int, seed: int = 9) -> Iterator[Case]:
    """Heads with random bytes where names, values, methods and paths go."""
    rng = random.Random(seed)
    names = [
        b"x-api-key",
        b"Authorization",
        b"anthropic-version",
        b"Content-Type",
        b"Content-Encoding",
        b"Content-Length",
        b"Transfer-Encoding",
        b"Accept-Encoding",
        b"Connection",
        b"Expect",
        b"Host",
        b"Cookie",
    ]

    def junk(size: int) -> bytes:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(size)))

    for index in range(count):
        path = rng.choice(POST_ENDPOINTS + GET_ENDPOINTS)
        method = rng.choice(["GET", "POST", "HEAD"])
        headers = [
            (
                rng.choice(names) if rng.random() < 0.8 else junk(6).replace(b":", b"") or b"X",
                junk(20).replace(b"\r", b"").replace(b"\n", b""),
            )
            for _ in range(rng.randint(1, 4))
        ]
        raw_path = path.encode() + (junk(8).replace(b" ", b"") if rng.random() < 0.3 else b"")
        head = method.encode() + b" " + raw_path + b" HTTP/1.1\r\nHost: fuzz\r\n"
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        body = b'{"model":"sim","max_tokens":4,"messages":[]}' if method == "POST" else b""
        if method == "POST" and not any(
            n.lower() in (b"content-length", b"transfer-encoding") for n, _ in headers
        ):
            head += b"Content-Length: %d\r\n" % len(body)
        # Junk in Content-Length or Transfer-Encoding can leave the server waiting for a body
        # that never comes: each such case gets a connection of its own, closed after it.
        framing = any(
            n.lower() in (b"content-length", b"transfer-encoding", b"expect") for n, _ in headers
        )
        yield Case(
            f"random head#{index} {method} {path}",
            head + b"\r\n" + body,
            head=method == "HEAD",
            fresh=framing,
        )
