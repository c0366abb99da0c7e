"""Sizes (``10G``, ``500M``) and durations (``1h``, ``7d``) as autosrectl's options take them.

Parsed strictly: one whole number (no sign, no leading zero, no fraction, no exponent, no
spaces) and at most one unit. A size's unit is binary (``K`` = 1024, as ``dropbox.max_size``
counts) and may be left out (bytes); a duration's unit is required, so ``--expires 7`` is not
silently read as seconds or days.
"""

from __future__ import annotations

import argparse
import re

_SIZE = re.compile(r"([1-9][0-9]{0,18}|0)([KMGTP]?)", re.IGNORECASE)
_DURATION = re.compile(r"([1-9][0-9]{0,9})([smhdw])")
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_SIZE = (1 << 63) - 1
MAX_DURATION = 100 * 365 * 86400
"""A century: longer is a typo, and far-future times overflow other people's clocks."""


class UnitError(ValueError):
    pass


def parse_size(text: str) -> int:
    """Bytes from ``123``, ``10K``, ``500M``, ``10G``, ``2T`` (binary units); at least 1."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise UnitError(f"{text!r} is not a size (a whole number with K, M, G, T or P: 500M, 10G)")
    value = int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]
    if value < 1:
        raise UnitError(f"{text!r}: a size is at least one byte")
    if value > MAX_SIZE:
        raise UnitError(f"{text!r} is larger than any file system")
    return value


def parse_duration(text: str) -> int:
    """Seconds from ``90s``, ``30m``, ``1h``, ``7d``, ``2w``; at least 1 s, at most a century."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise UnitError(f"{text!r} is not a duration (a whole number with s, m, h, d or w: 1h, 7d)")
    value = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if value > MAX_DURATION:
        raise UnitError(f"{text!r} is longer than a century")
    return value


def format_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``10.0 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def size_argument(text: str) -> int:
    """argparse's type for a size: a bad one is a usage error (exit 2) naming the forms."""
    try:
        return parse_size(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def duration_argument(text: str) -> int:
    """argparse's type for a duration."""
    try:
        return parse_duration(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count_argument(text: str) -> int:
    """argparse's type for a count from 1 (digits only: no sign, no leading zero)."""
    if not (text.isascii() and text.isdigit()) or text.startswith("0") or len(text) > 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return int(text)
