"""The TOML writer of `autosrectl codex`: whatever tomllib reads, it writes so that tomllib
reads it back equal."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.ctl.tomlwrite import dumps

# A Codex config.toml of the kind users write (keys quoted, arrays of tables, inline tables).
SAMPLE = r"""
model = "gpt-5.5"
notify = ["notify-send", "Codex says \"done\"\n"]
"key with spaces" = 1
approvals = true
ratio = 0.5
big = 1e300
when = 1979-05-27T07:32:00-08:00
local = 1979-05-27T07:32:00.999999
day = 1979-05-27
hour = 07:32:00
empty = {}

[shell_environment_policy]
inherit = "core"
set = { PATH = "/usr/bin", "MY VAR" = "x" }

[mcp_servers.docs]
command = "docs-mcp"
args = ["--port", 3000, 1.5, [1, 2], { a = 1 }]

[[hooks]]
event = "stop"
command = ["echo", "bye"]

[[hooks]]
event = "start"

[projects."/home/me/my project"]
trust_level = "trusted"

[profiles.fast.nested.deeper]
value = "x"

[empty_table]
"""


def test_a_config_reads_back_equal() -> None:
    document = tomllib.loads(SAMPLE)
    assert tomllib.loads(dumps(document)) == document


def test_output_shape() -> None:
    text = dumps(
        {"model": "m", "model_providers": {"autosred": {"base_url": "http://h/v1"}}, "x": 1}
    )
    assert text == ('model = "m"\nx = 1\n\n[model_providers.autosred]\nbase_url = "http://h/v1"\n')
    assert dumps({}) == ""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (1e16, "1e+16"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        ("tab\there", '"tab\\there"'),
        ("\x00\x1f\x7f", '"\\u0000\\u001F\\u007F"'),
        ("ünïcode ✓", '"ünïcode ✓"'),
        (True, "true"),
        (dt.date(5, 1, 2), "0005-01-02"),
    ],
)
def test_values(value: Any, text: str) -> None:
    assert dumps({"v": value}) == f"v = {text}\n"
    assert tomllib.loads(dumps({"v": value}))["v"] == value


def test_nan_reads_back_as_nan() -> None:
    assert math.isnan(tomllib.loads(dumps({"v": math.nan}))["v"])


def test_what_toml_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError):
        dumps({"v": None})
    with pytest.raises(TypeError):
        dumps({"v": b"bytes"})
    with pytest.raises(ValueError, match="offset"):
        dumps({"v": dt.time(1, 2, tzinfo=dt.UTC)})


# --------------------------------------------------------------- property: tomllib round trip

_keys = st.text(max_size=8)
_offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
_datetimes = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
    _datetimes,
    st.builds(lambda d, tz: d.replace(tzinfo=tz), _datetimes, _offsets),
    st.dates(),
    st.times(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_documents = st.recursive(
    st.dictionaries(_keys, _values, max_size=5),
    lambda inner: st.dictionaries(_keys, _values | inner, max_size=5),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(_documents)
def test_round_trip(document: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(document)) == document
