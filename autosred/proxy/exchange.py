"""One client request's accounting: status, duration, time to first byte and tokens, by
surface."""

from __future__ import annotations

import time

from autosred.metrics import Metrics


class Exchange:
    """Created when a request arrives; ``finish`` records it exactly once."""

    __slots__ = ("_finished", "_metrics", "api", "client", "first_byte_at", "model", "started")

    def __init__(self, *, metrics: Metrics, api: str, model: str = "-", client: str = "-") -> None:
        self._metrics = metrics
        self._finished = False
        self.api = api
        self.model = model
        self.client = client
        self.started = time.perf_counter()
        self.first_byte_at: float | None = None

    def first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
            self._metrics.time_to_first_byte.labels(api=self.api, model=self.model).observe(
                self.first_byte_at - self.started
            )

    def count_tokens(self, *, input_tokens: int, output_tokens: int) -> None:
        """The prompt (cached part included) and the output of the model's answer."""
        tokens = self._metrics.tokens
        tokens.labels(client=self.client, model=self.model, direction="input").inc(input_tokens)
        tokens.labels(client=self.client, model=self.model, direction="output").inc(output_tokens)

    def finish(self, status: int | str) -> None:
        if self._finished:
            return
        self._finished = True
        self._metrics.requests.labels(api=self.api, model=self.model, status=str(status)).inc()
        self._metrics.request_duration.labels(api=self.api, model=self.model).observe(
            time.perf_counter() - self.started
        )
