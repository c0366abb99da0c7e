"""autosrectl's sizes and durations: the documented forms, and nothing else (fuzzed)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autosred.ctl.units import (
    MAX_DURATION,
    UnitError,
    format_size,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "size"),
    [("1", 1), ("500M", 500 << 20), ("10G", 10 << 30), ("10g", 10 << 30), ("2T", 2 << 40)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    [
        *("", "0", "0G", "01G", "-1", "+1", "1.5G", "1e3", "0x10", "10GB", "10 G", " 10G"),
        *("G", "9" * 30, "١٠G"),
    ],
)
def test_bad_sizes(text: str) -> None:
    with pytest.raises(UnitError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "7", "0h", "01h", "1H", "1h30m", "1.5h", "-1h", "1 h", "h", "1y", "99999999w"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(UnitError):
        parse_duration(text)


@given(st.text(max_size=25))
def test_a_size_is_a_whole_number_with_one_binary_unit_or_refused(text: str) -> None:
    try:
        size = parse_size(text)
    except UnitError:
        return
    match = re.fullmatch(r"([1-9][0-9]*)([KMGTPkmgtp]?)", text)
    assert match is not None and size >= int(match.group(1)) >= 1


@given(st.text(alphabet="0123456789smhdwSMHD.-+ ", max_size=14))
def test_a_duration_has_its_unit_and_is_at_most_a_century(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except UnitError:
        return
    assert re.fullmatch(r"[1-9][0-9]*[smhdw]", text) and 1 <= seconds <= MAX_DURATION


def test_sizes_are_shown_in_binary_units() -> None:
    assert [format_size(n) for n in (512, 1536, 10 << 30)] == ["512 B", "1.5 KiB", "10.0 GiB"]
