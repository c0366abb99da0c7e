"""A small TOML 1.0 writer for what ``tomllib`` reads: ``dumps(tomllib.loads(text))`` reads
back equal (the standard library has a reader only).

Tables become ``[dotted.header]`` sections, depth first, each written once; everything else
(arrays of any values, tables inside arrays as inline tables) is written inline. Strings are
basic strings with every control character escaped; floats keep a ``.`` or an exponent so
that they read back as floats; datetimes, dates and times use ISO 8601 as TOML does.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def dumps(document: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _table(document, (), lines)
    return "\n".join(lines) + ("\n" if lines else "")


def _table(table: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    subtables = [(key, value) for key, value in table.items() if isinstance(value, Mapping)]
    plain = [(key, value) for key, value in table.items() if not isinstance(value, Mapping)]
    if path and (plain or not subtables):
        if lines:
            lines.append("")
        lines.append(f"[{'.'.join(key_text(part) for part in path)}]")
    for key, value in plain:
        lines.append(f"{key_text(key)} = {value_text(value)}")
    for key, value in subtables:
        _table(value, (*path, key), lines)


def key_text(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"TOML keys are strings, not {type(key).__name__}")
    return key if _BARE_KEY.fullmatch(key) else string_text(key)


def string_text(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def value_text(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, str):
        return string_text(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        if isinstance(value, dt.time) and value.tzinfo is not None:
            raise ValueError("TOML has no time of day with an offset")
        return value.isoformat()
    if isinstance(value, Mapping):
        items = ", ".join(f"{key_text(k)} = {value_text(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(item) for item in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} as TOML")


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    return text if any(char in text for char in ".e") else text + ".0"
