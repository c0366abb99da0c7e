"""The mutable state of one simulator instance (stored on its web.Application, never global)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from autosred.sim.config import SimConfig
from autosred.sim.generation import derive_id
from autosred.sim.metrics import SimMetrics
from autosred.sim.prefixcache import PrefixCache
from autosred.sim.records import RequestLog
from autosred.sim.replies import ReplySpec, Script
from autosred.sim.tokenizer import ToyTokenizer


@dataclass
class Counters:
    generations_started: int = 0
    waiting: int = 0
    """Requests in line for a place in the running batch (``max_num_seqs``)."""
    running: int = 0
    max_running: int = 0
    completed: int = 0
    aborted: int = 0
    failed: int = 0
    prompt_tokens_total: int = 0
    generation_tokens_total: int = 0
    kv_tokens: int = 0
    """Prompt + generated tokens of the running requests (the simulated KV-cache load)."""


@dataclass
class SimState:
    config: SimConfig
    tokenizer: ToyTokenizer = field(default_factory=ToyTokenizer)
    log: RequestLog = field(default_factory=RequestLog)
    counters: Counters = field(default_factory=Counters)
    started_at: float = field(default_factory=time.time)
    script: Script = field(init=False)
    metrics: SimMetrics = field(init=False)
    prefix_cache: PrefixCache = field(default_factory=PrefixCache)
    _batch: asyncio.Semaphore | None = field(init=False, default=None)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.script = Script(self.config.script)
        if self.config.max_num_seqs is not None:
            self._batch = asyncio.Semaphore(self.config.max_num_seqs)
        self.metrics = SimMetrics(
            model=self.config.model,
            running=lambda: float(self.counters.running),
            waiting=lambda: float(self.counters.waiting),
            kv_usage=self.kv_usage,
        )

    @property
    def model(self) -> str:
        return self.config.model

    def replace_script(self, specs: Iterable[ReplySpec]) -> None:
        self.script = Script(specs)

    def next_generation_number(self) -> int:
        """A per-instance counter: with the seed it makes ids deterministic."""
        return next(self._numbers)

    def response_id(self, prefix: str, number: int) -> str:
        return f"{prefix}-{derive_id(self.config.seed, number)}"

    def kv_usage(self) -> float:
        return min(1.0, self.counters.kv_tokens / self.config.kv_capacity)

    @contextlib.asynccontextmanager
    async def batch_place(self) -> AsyncIterator[None]:
        """A place in the running batch, waited for in line when ``max_num_seqs`` are running
        (a client that leaves while waiting leaves the line)."""
        batch = self._batch
        if batch is None:
            yield
            return
        self.counters.waiting += 1
        try:
            await batch.acquire()
        finally:
            self.counters.waiting -= 1
        try:
            yield
        finally:
            batch.release()

    def generation_started(self, prompt_tokens: int, prompt: str) -> None:
        self.metrics.prefix_cache(
            queried=prompt_tokens,
            hit=self.prefix_cache.query(self.tokenizer.pieces(prompt)),
        )
        counters = self.counters
        counters.generations_started += 1
        counters.running += 1
        counters.max_running = max(counters.max_running, counters.running)
        counters.prompt_tokens_total += prompt_tokens
        counters.kv_tokens += prompt_tokens
        self.metrics.prompt_tokens(prompt_tokens)

    def first_token(self, received_at: float) -> None:
        """The request that arrived at ``received_at`` (epoch seconds) has its first token."""
        self.metrics.first_token(max(0.0, time.time() - received_at))

    def tokens_generated(self, count: int) -> None:
        self.counters.generation_tokens_total += count
        self.counters.kv_tokens += count
        self.metrics.generation_tokens(count)

    def generation_ended(self, held_tokens: int) -> None:
        self.counters.running -= 1
        self.counters.kv_tokens -= held_tokens
