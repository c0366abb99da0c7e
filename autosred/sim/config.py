"""The settings of one simulated vLLM server (one per `make_app` / `running_sim` / process)."""

from __future__ import annotations

from dataclasses import dataclass

from autosred.sim.replies import ReplySpec

DEFAULT_MAX_MODEL_LEN = 32768


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Everything a simulator instance needs; immutable so two sims never share mutable state."""

    model: str = "sim-model"
    """The served model name (`--model`): the only name `/v1/models` lists and requests accept."""

    host: str = "127.0.0.1"
    """Address to bind (`--host`)."""

    port: int = 0
    """Port to bind (`--port`); 0 picks a free one (what `running_sim` uses by default)."""

    max_model_len: int = DEFAULT_MAX_MODEL_LEN
    """Context window in toy tokens (`--max-model-len`): prompt + max_tokens may not exceed it."""

    script: tuple[ReplySpec, ...] = ()
    """Scripted replies (`--script FILE`), see `autosred.sim.replies.Script`."""

    tokens_per_second: float = 0.0
    """Pacing of streamed chunks (`--tokens-per-second`); 0 sends as fast as possible."""

    seed: int = 0
    """Seed of every generated id (`--seed`): same seed, same ids, request for request."""

    startup_delay: float = 0.0
    """Seconds before the port is bound (`--startup-delay`); used by the process entry only."""

    fail_start: str | None = None
    """If set, the process exits 1 with this reason after the start-up delay (`--fail-start`)."""

    api_key: str | None = None
    """If set, `/v1/*` requires `Authorization: Bearer <key>` like `vllm serve --api-key`."""

    max_num_seqs: int | None = None
    """Requests generating at once (`--max-num-seqs`, vLLM's flag); the others wait in line and
    are counted by `vllm:num_requests_waiting`. None: no limit."""

    kv_cache_tokens: int | None = None
    """Simulated KV-cache size in tokens (`vllm:kv_cache_usage_perc`); default 4 x max_model_len."""

    @property
    def kv_capacity(self) -> int:
        return self.kv_cache_tokens or 4 * self.max_model_len
