"""The Markdown the model reads: one item per hit, whatever the engines put in them."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from autosred.mcp.search.render import render_hits
from autosred.web.search.backend import SearchHit, usable_hits

ITEM = re.compile(
    r"^(\d+)\. \[(?P<title>(?:\\.|[^\\\[\]])*)\]\(<(?P<url>[^<>\s\x00-\x1f\x7f-\x9f]*)>\)$"
)


def test_markup_in_titles_and_urls_cannot_break_the_link() -> None:
    hit = SearchHit(
        title="[Ad] *Python* <b>docs</b>\nsecond line",
        url="https://example.org/a b)(<x>",
        snippet="line one\n\n2. not an item\tend",
    )
    text = render_hits("q", [hit], source="test")
    assert text.splitlines()[2:] == [
        r"1. [\[Ad\] \*Python\* \<b\>docs\</b\> second line](<https://example.org/a%20b)(%3Cx%3E>)",
        "   line one 2. not an item end",
    ]


def test_a_hit_without_title_is_named_by_its_url_and_without_snippet_has_one_line() -> None:
    text = render_hits("q", [SearchHit(title="  ", url="https://example.org/")], source="test")
    assert text.splitlines()[2:] == ["1. [https://example.org/](<https://example.org/>)"]


def test_usable_hits_keep_http_urls_once_and_cut() -> None:
    hits = [
        SearchHit("a", "https://a.example/"),
        SearchHit("ftp", "ftp://files.example/"),
        SearchHit("a again", "https://a.example/"),
        SearchHit("js", "javascript:alert(1)"),
        SearchHit("b", "HTTP://B.example/"),
        SearchHit("c", "https://c.example/"),
    ]
    assert [hit.title for hit in usable_hits(hits, 2)] == ["a", "b"]


hits = st.lists(
    st.builds(
        SearchHit,
        title=st.text(),
        url=st.text().map(lambda tail: "https://example.org/" + tail),
        snippet=st.text(),
    ),
    max_size=8,
)


@given(st.text(), hits)
def test_every_hit_is_exactly_one_numbered_item(query: str, found: list[SearchHit]) -> None:
    lines = render_hits(query, found, source="test").splitlines()
    assert lines[0].startswith("Search results for ")
    items = [line for line in lines[1:] if not line.startswith("   ") and line]
    assert len(items) == len(found)
    for number, (line, hit) in enumerate(zip(items, found, strict=True), start=1):
        match = ITEM.match(line)
        assert match, line
        assert match.group(1) == str(number)
        if not re.search(r"[\s<>\x00-\x1f\x7f-\x9f]", hit.url):
            assert match.group("url") == hit.url
