"""The simulator's prefix cache counts hits as vLLM does: whole blocks shared from the start."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autosred.sim.prefixcache import PrefixCache

PIECES = st.lists(st.sampled_from(["a", "b", " c", "d\n"]), max_size=80)


@given(PIECES, PIECES)
def test_hits_are_the_whole_blocks_shared_from_the_start(
    first: list[str], second: list[str]
) -> None:
    cache = PrefixCache(block_tokens=4)
    assert cache.query(first) == 0, "an empty cache hits nothing"
    shared = 0
    while shared < min(len(first), len(second)) and first[shared] == second[shared]:
        shared += 1
    assert cache.query(second) == shared - shared % 4
    assert cache.query(second) == len(second) - len(second) % 4, "now all of it is cached"


def test_the_oldest_blocks_are_forgotten_first() -> None:
    cache = PrefixCache(block_tokens=2, memory=4)
    cache.query(["a", "b", "c", "d"])  # 2 blocks
    cache.query(["x", "y", "z", "w", "v", "u"])  # 3 more: the first prompt's first block goes
    assert cache.query(["a", "b", "c", "d"]) == 0
