"""Telling Claude Code the served model's context window, so that it compacts in time.

Claude Code takes every ``claude-*`` model for a 200,000-token one and compacts only near
167k; a local model with ``max_model_len`` 32,768 would be sent prompts it cannot take long
before that ("prompt is too long"). How Claude Code 2.1.197 decides (read from its bundle):

- the window is ``CLAUDE_CODE_AUTO_COMPACT_WINDOW`` capped at the model's own (200k for a
  ``claude-*`` name), but **raised to at least 100,000**; ``CLAUDE_CODE_MAX_CONTEXT_TOKENS``
  is ignored for ``claude-*`` names;
- from that window it keeps ``min(max output tokens, 20,000)`` for the answer, and compacts at
  that effective window less 13,000, or at ``CLAUDE_AUTOCOMPACT_PCT_OVERRIDE`` percent of the
  effective window when that comes first.

So for 100k <= window < 200k the window alone is enough (compaction at window - 33k, as
Claude Code does on its own models); below 100k the percentage brings the point down to where
Claude Code's own 200k default puts it: with 16.5% of the window left (167k of 200k). At
32,768 that is 27,361 tokens; from about 80k the 13k margin comes first (67,000, which is also
where the window-alone rule starts at 100k). The user's own setting of either variable wins:
then autosrectl sets neither.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

WINDOW_ENV = "CLAUDE_CODE_AUTO_COMPACT_WINDOW"
PERCENT_ENV = "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"
MAX_OUTPUT_ENV = "CLAUDE_CODE_MAX_OUTPUT_TOKENS"

DEFAULT_WINDOW = 200_000
"""What Claude Code assumes for a claude-* model; larger settings are capped to it."""
MIN_WINDOW = 100_000
"""Claude Code raises a smaller CLAUDE_CODE_AUTO_COMPACT_WINDOW to this."""
OUTPUT_RESERVE = 20_000
"""Kept free for the answer: min(max output tokens, this)."""
COMPACT_BUFFER = 13_000
"""Claude Code's own margin below the effective window."""
COMPACT_AT = 1 - (OUTPUT_RESERVE + COMPACT_BUFFER) / DEFAULT_WINDOW
"""The share of its default window at which Claude Code compacts (167k of 200k: 0.835)."""


def compact_env(env: Mapping[str, str], window: int | None) -> dict[str, str]:
    """The variables to add to Claude Code's environment for a model of ``window`` tokens
    (none when the window is unknown, not below Claude Code's default, or the user chose)."""
    if window is None or window >= DEFAULT_WINDOW:
        return {}
    if env.get(WINDOW_ENV) or env.get(PERCENT_ENV):
        return {}
    added = {WINDOW_ENV: str(window)}
    effective = max(window, MIN_WINDOW) - min(_max_output(env), OUTPUT_RESERVE)
    target = math.floor(window * COMPACT_AT)
    if target < effective - COMPACT_BUFFER:
        # Claude Code compacts at floor(effective * percent / 100): round the percentage
        # down so that the point is never above the target.
        percent = math.floor(target * 100_000 / effective) / 1000
        added[PERCENT_ENV] = f"{max(percent, 0.001):g}"
    return added


def _max_output(env: Mapping[str, str]) -> int:
    """The user's CLAUDE_CODE_MAX_OUTPUT_TOKENS when it is a positive number (Claude Code
    ignores anything else), else the reserve itself."""
    value = env.get(MAX_OUTPUT_ENV, "").strip()
    try:
        number = int(value)
    except ValueError:
        return OUTPUT_RESERVE
    return number if number > 0 else OUTPUT_RESERVE
