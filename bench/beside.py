"""Model streams with and without a side load (fetches, a browser, a transfer), in turns.

A side load is a process of its own (bench/mcpfetch.py, browserload.py, dropboxload.py) that
prints `{"event": "running"}` once it is busy, runs until a line arrives on its stdin, then
prints its totals (`errors` and its own figures) as one JSON line. Each turn measures the
model streams' events/s alone, then again while the side load runs, so the two figures of a
turn are taken seconds apart.

The verdict is the median of the turns' own ratios (`paired_ratio`), not the ratio of the two
medians: on the 2-core bench machine the streams' rate drifts by ±20% over minutes, which moves
both figures of a turn alike but mixes turns in a ratio of medians. An A/A run (a side process
that does nothing, 10 turns of 4 s) gave turn ratios from 0.84 to 1.33, median 1.01, while its
ratio of medians read 0.97: that is the noise a verdict at 0.9x has to stand on.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from dataclasses import dataclass, field
from typing import Any

from bench.load import ROOT, run_load


@dataclass
class Beside:
    without: list[float] = field(default_factory=list)
    """The model streams' events/s alone, one per turn."""
    with_load: list[float] = field(default_factory=list)
    """The same while the side load ran."""
    totals: list[dict[str, Any]] = field(default_factory=list)
    """The side load's own totals, one per turn."""


def turn_ratios(without: list[float], with_load: list[float]) -> list[float]:
    """Each turn's events/s beside the load over its events/s alone."""
    return [beside / alone for alone, beside in zip(without, with_load, strict=True)]


def paired_ratio(without: list[float], with_load: list[float]) -> float:
    """The median of the turns' ratios (the module's docstring says why)."""
    return statistics.median(turn_ratios(without, with_load))


def ratios_text(without: list[float], with_load: list[float]) -> str:
    """The turns' ratios as the sections print them."""
    return ", ".join(f"{r:.2f}" for r in turn_ratios(without, with_load))


def streams_beside(spec: dict[str, Any], side: list[str], *, turns: int, what: str) -> Beside:
    """``turns`` turns of the model-stream load ``spec`` alone and beside the ``side`` process."""
    figures = Beside()
    for _ in range(turns):
        figures.without.append(_events_per_s(spec))
        process = subprocess.Popen(
            side, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        try:
            assert process.stdin is not None and process.stdout is not None
            line = json.loads(process.stdout.readline() or '{"event": "died"}')
            if line["event"] != "running":
                raise RuntimeError(f"{what} load did not start: {line}")
            figures.with_load.append(_events_per_s(spec))
            process.stdin.write("\n")
            process.stdin.flush()
            totals = json.loads(process.stdout.readline())
            if totals["errors"]:
                raise RuntimeError(f"{what} load failed: {totals['errors']}")
            figures.totals.append(totals)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    return figures


def _events_per_s(spec: dict[str, Any]) -> float:
    result = run_load(spec)
    if result["errors"]:
        raise RuntimeError(f"model streams had {result['errors']} errors")
    return float(result["events"]) / float(result["duration"])
