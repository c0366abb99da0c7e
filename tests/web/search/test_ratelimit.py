"""The daemon's per-minute search limit over a clock the test moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autosred.web.search.ratelimit import WINDOW, SlidingWindowLimit
from tests.support.clock import ManualClock


def test_per_minute_are_granted_then_the_wait_is_exact() -> None:
    clock = ManualClock()
    limit = SlidingWindowLimit(3, clock=clock)
    granted = []
    for _ in range(3):
        granted.append(limit.try_acquire())
        clock.now += 10
    assert granted == [None, None, None]  # at 0, 10 and 20 s
    assert limit.try_acquire() == pytest.approx(30.0)  # at 30 s: the first frees at 60 s
    clock.now += 29.5
    assert limit.try_acquire() == pytest.approx(0.5)
    clock.now += 0.5
    assert limit.try_acquire() is None  # 60 s: the first slot is free again
    assert limit.try_acquire() == pytest.approx(10.0)  # the next frees at 70 s


def test_a_refused_attempt_takes_no_slot() -> None:
    clock = ManualClock()
    limit = SlidingWindowLimit(1, clock=clock)
    assert limit.try_acquire() is None
    for _ in range(100):
        clock.now += 0.5
        assert limit.try_acquire() is not None
    clock.now = 1000.0 + WINDOW
    assert limit.try_acquire() is None


def test_per_minute_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindowLimit(0)


@given(
    st.integers(min_value=1, max_value=5),
    st.lists(st.floats(min_value=0, max_value=30, allow_nan=False), max_size=60),
)
def test_never_more_than_per_minute_in_any_window(per_minute: int, steps: list[float]) -> None:
    clock = ManualClock()
    limit = SlidingWindowLimit(per_minute, clock=clock)
    granted: list[float] = []
    for step in steps:
        clock.now += step
        wait = limit.try_acquire()
        if wait is None:
            granted.append(clock.now)
        else:
            assert 0 < wait <= WINDOW
    for index, start in enumerate(granted):
        in_window = [t for t in granted[index:] if t < start + WINDOW]
        assert len(in_window) <= per_minute
