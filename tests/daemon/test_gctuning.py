"""daemon/gctuning.py: the collector's young threshold raised, the start-up heap frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from autosred.daemon.gctuning import YOUNG_THRESHOLD, freeze_startup_heap, tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, afterwards."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def test_only_the_young_threshold_changes(collector: None) -> None:
    gc.set_threshold(700, 11, 12)
    tune_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)


def test_the_heap_alive_at_start_up_is_frozen_after_its_garbage_is_collected(
    collector: None,
) -> None:
    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    alive = Node()
    garbage = Node()
    garbage.other = Node()
    garbage.other.other = garbage  # a cycle only the collector can free
    collected = weakref.ref(garbage)
    del garbage
    freeze_startup_heap()
    assert collected() is None  # freed first, not frozen for good
    assert gc.get_freeze_count() > 0
    assert not any(obj is alive for obj in gc.get_objects())  # frozen: never traversed
