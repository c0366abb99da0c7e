"""robots.txt rules as RFC 9309 reads them, pure and fuzzed (the RFC's own examples, the
longest match, wildcards, groups)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.fetch.robots import Robots, glob_match

AGENT = "autosred"


def allows(text: str, path: str, agent: str = AGENT) -> bool:
    return Robots.parse(text).allows(agent, path)


@pytest.mark.parametrize(
    ("rules", "path", "allowed"),
    [
        # RFC 9309 2.2.3's examples.
        ("allow: /p\ndisallow: /", "/page", True),
        ("allow: /folder\ndisallow: /folder", "/folder/page", True),
        ("allow: /page\ndisallow: /*.html", "/page.html", False),
        ("allow: /page\ndisallow: /*.html", "/page.php5", True),
        ("allow: /$\ndisallow: /", "/", True),
        ("allow: /$\ndisallow: /", "/page.htm", False),
        ("disallow: /path", "/path/to/file", False),
        ("disallow: /path", "/pathological", False),
        ("disallow: /path$", "/path/x", True),
        ("disallow: /path$", "/path", False),
        ("disallow:", "/anything", True),
        ("disallow: /*/secret", "/a/b/secret/c", False),
        ("disallow: /a%3cd.html", "/a%3Cd.html", False),
        ("disallow: /a%3Cd.html", "/a<d.html", False),
        ("disallow: /%7Ejoe", "/~joe/index", False),
        ("disallow: /ümlaut", "/%C3%BCmlaut", False),
        ("disallow: /", "/robots.txt", True),
        ("disallow: /?q=", "/?q=1", False),
    ],
)
def test_rules(rules: str, path: str, allowed: bool) -> None:
    assert allows(f"user-agent: *\n{rules}\n", path) is allowed


def test_our_group_wins_over_star_and_groups_combine() -> None:
    text = """
user-agent: *
disallow: /

User-Agent: AutoSRED/2.0
user-agent: other
disallow: /private

user-agent: autosred
disallow: /tmp
"""
    assert allows(text, "/page")
    assert not allows(text, "/private/x")
    assert not allows(text, "/tmp/x")
    assert not allows(text, "/page", agent="someone")


def test_a_group_of_ours_does_not_fall_back_to_star() -> None:
    assert allows("user-agent: autosred\nallow: /\n\nuser-agent: *\ndisallow: /\n", "/x")


def test_user_agent_lines_in_a_row_share_the_rules_that_follow_even_across_blank_lines() -> None:
    # RFC 9309's grammar: a group is its start lines (empty lines allowed between) and then
    # its rules, so both agents here are disallowed.
    assert not allows("user-agent: autosred\n\nuser-agent: *\ndisallow: /\n", "/x")


def test_rules_before_any_group_and_unknown_lines_are_ignored() -> None:
    text = (
        "disallow: /\nsitemap: https://x/s.xml\ncrawl-delay: 5\nnonsense\nuser-agent: *\nallow: /\n"
    )
    assert allows(text, "/x")


def test_no_groups_allow_all() -> None:
    assert allows("", "/x") and allows("# only comments\n", "/x")


def reference_match(pattern: str, path: str) -> bool:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*")) + ("$" if anchored else "")
    return re.match(regex, path, re.DOTALL) is not None


@settings(max_examples=500)
@given(st.text(alphabet="ab*", max_size=8), st.text(alphabet="ab", max_size=10))
def test_glob_match_agrees_with_a_regular_expression(pattern: str, text: str) -> None:
    assert glob_match(pattern, text) == (
        re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text, re.DOTALL) is not None
    )


@settings(max_examples=300)
@given(st.text(max_size=400), st.text(max_size=40))
def test_any_file_parses_and_answers(text: str, path: str) -> None:
    robots = Robots.parse(text)
    assert robots.allows(AGENT, "/" + path) in (True, False)


RULE_PATTERNS = st.text(alphabet="/ab*$", min_size=1, max_size=6)


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.booleans(), RULE_PATTERNS), max_size=6),
    st.text(alphabet="/ab", max_size=8),
)
def test_the_longest_matching_rule_decides_and_allow_wins_ties(
    rules: list[tuple[bool, str]], path: str
) -> None:
    path = "/" + path
    text = "user-agent: *\n" + "".join(f"{'allow' if a else 'disallow'}: {p}\n" for a, p in rules)
    matching = [(len(p), a) for a, p in rules if reference_match(p, path)]
    expected = True if not matching else max(matching)[1]
    assert allows(text, path) is expected


def test_a_hostile_pattern_is_matched_in_polynomial_time() -> None:
    pattern = "*a" * 40 + "b"
    assert not glob_match(pattern + "*", "a" * 2000)
