"""Unary API calls off the event loop, retried while the API server is unreachable or busy.

The official client is synchronous (urllib3): each call runs on a small thread pool, so the
loop never blocks on the API server. A call that failed because the server cannot be reached
or answered 429 / 5xx is retried with jittered exponential backoff, honouring ``Retry-After``,
for at most ``RetryPolicy.budget`` seconds. Every call the facade makes is safe to repeat:
reads, merge patches of absolute values, creates (a repeated create answers 409, which callers
treat as "exists").
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from autosred.kube.errors import KubeError, KubeUnavailable, translate

JSON = dict[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for calls that failed because the API server is unreachable or overloaded."""

    budget: float = 10.0
    """Seconds of retrying before the call fails with KubeUnavailable."""
    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 5.0
    max_retry_after: float = 30.0
    """A longer Retry-After is cut to this (and still bounded by the budget)."""

    def delays(self) -> Iterator[float]:
        """Successive backoff delays (with jitter), growing to ``maximum``."""
        delay = self.initial
        while True:
            # Full jitter keeps two daemons (or two calls) from retrying in lockstep.
            yield random.uniform(delay / 2, delay)
            delay = min(self.maximum, delay * self.factor)


class Calls:
    """Runs the official client's calls on a thread pool and decodes their JSON bodies."""

    def __init__(
        self,
        *,
        server: str,
        log: logging.Logger,
        timeout: float,
        retry: RetryPolicy,
        workers: int,
    ) -> None:
        self._server = server
        self._log = log
        self._timeout = timeout
        self._retry = retry
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube")
        self._closed = False

    async def run(self, what: str, call: Callable[..., Any]) -> JSON:
        """``call(**kw)`` on the pool, retrying what may be retried; ``what`` names the object
        in errors and logs."""
        return _json_body(what, await self._run(what, call))

    async def run_text(self, what: str, call: Callable[..., Any]) -> str:
        """``run`` for a call that answers text (a pod's log), not a JSON object."""
        return (await self._run(what, call)).decode("utf-8", errors="replace")

    async def _run(self, what: str, call: Callable[..., Any]) -> bytes:
        if self._closed:
            raise KubeUnavailable(f"{what}: the Kubernetes client is closed")
        loop = asyncio.get_running_loop()
        delays = self._retry.delays()
        deadline = time.monotonic() + self._retry.budget
        attempt = 0
        while True:
            attempt += 1
            try:
                return await loop.run_in_executor(self._executor, self._blocking, call)
            except KubeError:
                raise
            except Exception as exc:
                error = translate(exc, what, self._server)
                if not isinstance(error, KubeUnavailable):
                    raise error from exc
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise error from exc
                delay = retry_after(exc, self._retry.max_retry_after)
                if delay is None:
                    delay = next(delays)
                delay = min(delay, remaining)
                self._log.info(
                    "kube.retry",
                    extra={
                        "fields": {
                            "what": what,
                            "attempt": attempt,
                            "delay": round(delay, 2),
                            "error": error.message,
                        }
                    },
                )
                await asyncio.sleep(delay)

    def _blocking(self, call: Callable[..., Any]) -> bytes:
        response = call(_preload_content=False, _request_timeout=(self._timeout, self._timeout))
        try:
            raw: bytes = response.data
        except BaseException:
            response.close()  # half read: the connection must not be reused
            raise
        finally:
            response.release_conn()
        return raw

    def close(self) -> None:
        """Calls after this fail; queued ones are cancelled."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)


def _json_body(what: str, raw: bytes) -> JSON:
    try:
        body = json.loads(raw) if raw else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KubeError(f"{what}: the Kubernetes API answered something that is not JSON") from None
    if not isinstance(body, dict):
        raise KubeError(f"unexpected answer from the Kubernetes API: {str(body)[:200]}")
    return body


def retry_after(exc: BaseException, cap: float) -> float | None:
    """Seconds the API server asked us to wait (delta or HTTP date), at most ``cap``."""
    headers = getattr(exc, "headers", None)
    if not headers:
        return None
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(seconds, cap))


__all__ = ["JSON", "Calls", "RetryPolicy", "retry_after"]
