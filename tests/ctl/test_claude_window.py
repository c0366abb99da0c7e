"""The auto-compact variables `autosrectl claude` sets from the model's context window.

`claude_compacts_at` restates what Claude Code 2.1.197 does with them (read from its bundle;
see autosred/ctl/claudewindow.py); the real CLI compacting in time is
tests/claude/test_autosrectl_claude.py."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from autosred.ctl.claudewindow import PERCENT_ENV, WINDOW_ENV, compact_env


def claude_compacts_at(env: dict[str, str], max_output: int = 32_000) -> int:
    """Claude Code's auto-compact point for a claude-* model (200k) under ``env``."""
    window = 200_000
    if WINDOW_ENV in env:
        window = min(window, max(100_000, int(env[WINDOW_ENV])))
    effective = window - min(max_output, 20_000)
    point = effective - 13_000
    if PERCENT_ENV in env:
        percent = float(env[PERCENT_ENV])
        assert 0 < percent <= 100
        point = min(math.floor(effective * percent / 100), point)
    return point


def test_nothing_for_an_unknown_or_large_window() -> None:
    assert compact_env({}, None) == {}
    assert compact_env({}, 200_000) == {}
    assert compact_env({}, 1_000_000) == {}


def test_a_window_from_100k_is_the_window_alone() -> None:
    assert compact_env({}, 131_072) == {WINDOW_ENV: "131072"}
    assert claude_compacts_at(compact_env({}, 131_072)) == 131_072 - 33_000
    assert compact_env({}, 100_000) == {WINDOW_ENV: "100000"}


def test_the_demo_window_compacts_where_claude_code_would_on_its_own_share() -> None:
    env = compact_env({}, 32_768)
    assert env == {WINDOW_ENV: "32768", PERCENT_ENV: "34.201"}
    assert claude_compacts_at(env) == 27_360  # 83.5% of 32,768 is 27,361
    # Without them Claude Code compacts at 167,000: far past what the model can take.
    assert claude_compacts_at({}) == 167_000


def test_the_users_own_setting_wins() -> None:
    assert compact_env({WINDOW_ENV: "150000"}, 32_768) == {}
    assert compact_env({PERCENT_ENV: "50"}, 32_768) == {}


def test_a_smaller_max_output_moves_the_percentage() -> None:
    env = compact_env({"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "8000"}, 32_768)
    assert claude_compacts_at(env, max_output=8000) in range(27_358, 27_362)
    assert compact_env({"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "lots"}, 32_768) == compact_env({}, 32_768)


@given(
    window=st.integers(min_value=1_000, max_value=199_999),
    max_output=st.integers(min_value=1, max_value=128_000),
)
def test_compaction_comes_at_83_5_percent_of_the_window_or_earlier(
    window: int, max_output: int
) -> None:
    env = compact_env({"CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(max_output)}, window)
    point = claude_compacts_at(env, max_output=max_output)
    # Claude Code never compacts later than 13k below its effective window (the window
    # raised to 100k, less the output reserve): from about 80k that comes first.
    reserve = min(max_output, 20_000) + 13_000
    target = min(math.floor(window * 0.835), max(window, 100_000) - reserve)
    assert target - 2 <= point <= target
