"""Figures as short text for narrow columns: every cell of the view fits a few characters.

Unknown values (None) are shown as ``-`` everywhere, so a column never mixes blanks and
figures.
"""

from __future__ import annotations

import math
import time

DASH = "-"


def seconds(value: float | None) -> str:
    """``230ms``, ``8.4s``, ``12m05s``, ``3h02m``, ``2d04h``."""
    if value is None or not math.isfinite(value):
        return DASH
    if value < 0:
        value = 0.0
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.1f}s"
    total = round(value)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def count(value: float | None) -> str:
    """``7``, ``950``, ``12.3k``, ``4.1M``: token counts and rates."""
    if value is None or not math.isfinite(value):
        return DASH
    magnitude = abs(value)
    if magnitude < 1000:
        return f"{value:.0f}" if value == int(value) or magnitude >= 10 else f"{value:.1f}"
    for unit, size in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        if magnitude < size * 1000 or unit == "G":
            return f"{value / size:.1f}{unit}"
    return DASH  # unreachable: the loop returns at "G"


def percent(fraction: float | None) -> str:
    """A fraction 0..1 as ``43%``; ``0.4%`` below one per cent and ``<0.1%`` below that, so a
    trickle is never shown as 0%."""
    if fraction is None or not math.isfinite(fraction):
        return DASH
    value = fraction * 100
    if 0 < value < 0.05:
        return "<0.1%"
    if 0 < value < 1:
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def gib(size: int | float | None) -> str:
    """Bytes as ``12.3G`` (GiB: what nvidia-smi and the recipes' gpu needs speak)."""
    if size is None or not math.isfinite(size):
        return DASH
    return f"{size / 2**30:.1f}G"


def clock(at: float) -> str:
    """An epoch time as the local ``HH:MM:SS``."""
    if not math.isfinite(at):
        return DASH
    try:
        return time.strftime("%H:%M:%S", time.localtime(at))
    except (OverflowError, OSError, ValueError):
        return DASH
