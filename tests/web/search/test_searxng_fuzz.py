"""parse_answer over any bytes and any JSON: hits or a SearchFailure, never anything else,
and every well-formed result comes through unchanged."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.search.backend import FailureKind, SearchFailure, SearchHit
from autosred.web.search.searxng import parse_answer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=12,
)
# Values shaped like a SearXNG answer, with each field sometimes the wrong type.
results = st.lists(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"url": st.one_of(st.text(), json_values)},
            optional={"title": json_values, "content": json_values},
        ),
    ),
    max_size=8,
)
answers = st.fixed_dictionaries(
    {},
    optional={
        "results": st.one_of(results, json_values),
        "unresponsive_engines": st.one_of(
            st.lists(st.lists(st.one_of(st.text(), json_values), max_size=3), max_size=4),
            json_values,
        ),
        "suggestions": st.one_of(st.lists(json_values, max_size=4), json_values),
        "corrections": st.one_of(st.lists(json_values, max_size=4), json_values),
    },
)


def parse(body: bytes) -> list[SearchHit] | SearchFailure:
    try:
        hits = parse_answer(body)
    except SearchFailure as failure:
        assert failure.message.strip()
        return failure
    assert hits, "an empty list must be a NO_RESULTS failure"
    return hits


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes(body: bytes) -> None:
    parse(body)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json(value: Any) -> None:
    parse(json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(answers)
def test_answer_shaped_json(answer: dict[str, Any]) -> None:
    outcome = parse(json.dumps(answer).encode())
    if not isinstance(answer.get("results"), list):
        assert isinstance(outcome, SearchFailure)
        assert outcome.kind is FailureKind.UPSTREAM
        return
    expected = [
        SearchHit(
            title=item["title"] if isinstance(item.get("title"), str) else "",
            url=item["url"],
            snippet=item["content"] if isinstance(item.get("content"), str) else "",
        )
        for item in answer["results"]
        if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"].strip()
    ]
    if expected:
        assert outcome == expected
    else:
        assert isinstance(outcome, SearchFailure)
        assert outcome.kind in {
            FailureKind.NO_RESULTS,
            FailureKind.RATE_LIMITED,
            FailureKind.UPSTREAM,
        }


def test_deep_nesting_is_not_json_we_read() -> None:
    outcome = parse(b"[" * 100_000 + b"]" * 100_000)
    assert isinstance(outcome, SearchFailure)
    assert outcome.kind is FailureKind.UPSTREAM


@given(st.text(), st.text(), st.text())
def test_any_strings_in_a_result_survive(url: str, title: str, content: str) -> None:
    body = json.dumps({"results": [{"url": url, "title": title, "content": content}]})
    outcome = parse(body.encode())
    if url.strip():
        assert outcome == [SearchHit(title=title, url=url, snippet=content)]
    else:
        assert isinstance(outcome, SearchFailure)
