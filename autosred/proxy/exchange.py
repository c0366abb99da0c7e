"""One client request's record: created when it arrives, finished once with its ``Outcome``,
which goes to the request's observers: the metrics and the log always, and whatever a surface
adds (the Responses store keeps a completed response for ``previous_response_id``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from autosred.metrics import Metrics
from autosred.proxy.outcome import CLIENT_CLOSED, Outcome

Observer = Callable[[Outcome], None]


class Exchange:
    """Created when a request arrives; ``finish`` records it exactly once."""

    __slots__ = (
        "_finished",
        "_log",
        "_metrics",
        "_observers",
        "api",
        "client",
        "first_byte_at",
        "model",
        "request_id",
        "started",
    )

    def __init__(
        self,
        *,
        metrics: Metrics,
        log: logging.Logger,
        api: str,
        request_id: str = "-",
        client: str = "-",
    ) -> None:
        self._metrics = metrics
        self._log = log
        self._finished = False
        self._observers: list[Observer] = []
        self.api = api
        self.request_id = request_id
        self.model = "-"
        self.client = client
        self.started = time.perf_counter()
        self.first_byte_at: float | None = None

    def observe(self, observer: Observer) -> None:
        """Have ``observer`` called with the outcome when the request finishes."""
        self._observers.append(observer)

    def first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
            seconds = self.first_byte_at - self.started
            metrics = self._metrics
            metrics.time_to_first_byte.labels(api=self.api, model=self.model).observe(seconds)
            metrics.time_to_first_token.labels(self.api, self.model, self.client).observe(seconds)

    def finish(self, outcome: Outcome) -> None:
        if self._finished:
            return
        self._finished = True
        self._record(outcome)
        self._report(outcome)
        for observer in self._observers:
            observer(outcome)

    def _record(self, outcome: Outcome) -> None:
        metrics = self._metrics
        model = self.model
        metrics.requests.labels(api=self.api, model=model, status=str(outcome.status)).inc()
        metrics.request_duration.labels(api=self.api, model=model).observe(
            time.perf_counter() - self.started
        )
        usage = outcome.usage
        if usage is not None:
            tokens = metrics.tokens
            tokens.labels(client=self.client, model=model, direction="input").inc(
                usage.input_tokens
            )
            tokens.labels(client=self.client, model=model, direction="output").inc(
                usage.output_tokens
            )
            per_request = metrics.token_usage
            per_request.labels(self.api, model, self.client, "input").observe(usage.input_tokens)
            per_request.labels(self.api, model, self.client, "output").observe(usage.output_tokens)

    def _report(self, outcome: Outcome) -> None:
        fields = {"request_id": self.request_id, "model": self.model}
        for anomaly in outcome.anomalies:
            self._log.warning(
                f"{self.api}.stream_anomaly", extra={"fields": {**fields, "anomaly": anomaly}}
            )
        if outcome.status == CLIENT_CLOSED:
            # The upstream request is closed already (the model server stops generating).
            self._log.info(f"{self.api}.client_gone", extra={"fields": fields})
