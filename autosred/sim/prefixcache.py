"""A toy prefix cache: how many of a prompt's tokens an earlier prompt already computed.

vLLM caches KV blocks by the hash of the tokens up to and including each full block, so a hit
is the longest run of whole blocks a new prompt shares, from its start, with a cached one. The
simulator keeps the block hashes of recent prompts (bounded, oldest forgotten first) and counts
the same way, so ``vllm:prefix_cache_hits_total`` moves as it would for an agent that resends
its growing conversation: most of each prompt is a hit.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

BLOCK_TOKENS = 16
"""vLLM's default block size."""
MEMORY_BLOCKS = 65_536
"""Block hashes kept (about a million tokens of prompts), the oldest used forgotten first."""


class PrefixCache:
    def __init__(self, *, block_tokens: int = BLOCK_TOKENS, memory: int = MEMORY_BLOCKS) -> None:
        self._block = block_tokens
        self._memory = memory
        self._blocks: OrderedDict[bytes, None] = OrderedDict()

    def query(self, pieces: Sequence[str]) -> int:
        """Tokens of ``pieces`` (a prompt's tokens) found cached; the prompt is cached after."""
        hits = 0
        missed = False
        chain = hashlib.sha256()
        for start in range(0, len(pieces) - len(pieces) % self._block, self._block):
            for piece in pieces[start : start + self._block]:
                chain.update(piece.encode())
                chain.update(b"\0")
            key = chain.copy().digest()
            if not missed and key in self._blocks:
                hits += self._block
                self._blocks.move_to_end(key)
                continue
            missed = True
            self._blocks[key] = None
            if len(self._blocks) > self._memory:
                self._blocks.popitem(last=False)
        return hits
