"""The cyclic garbage collector, tuned for a daemon: a large heap built once at start-up (the
settings, recipes, aiohttp, Prometheus, pydantic's validators) and thousands of short-lived
objects per request, nearly all freed by their reference counts.

CPython's default collects the youngest generation every 700 net allocations, several times
per request, and moves what is still alive at that instant (the request's own objects, mid-
flight) into older generations that are traversed again; a full collection traverses the whole
start-up heap. Measured on the relay (BENCHMARKS.md, *The daemon's own CPU per event*): the
collector took 2-3% of the daemon's CPU streaming 200-chunk answers and 6-7% on 2-chunk ones,
nearly all in young collections that found nothing to free; tuned, close to none.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net allocations between young collections (CPython's default: 700): a request's objects
are freed by reference counting long before, so a collection finds cycles only; garbage
cycles wait for at most this many allocations (a few MiB at most)."""


def tune_collector() -> None:
    """Collect the young generation less often; the older generations keep their ratios."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def freeze_startup_heap() -> None:
    """Once the daemon is up: collect what start-up left, then move every object alive now
    out of the collector's reach (``gc.freeze``), so no collection traverses them again. They
    are still freed by reference counting; only a cycle among them (none is expected: a
    reload replaces settings and recipes, which hold no cycles) would stay."""
    gc.collect()
    gc.freeze()
