"""The simulator's memory of every API request it received (for `/sim/requests`).

Status of a record:
- "running": the response is not finished;
- "completed": a 2xx response was sent to the end;
- "aborted": the client went away before the response finished (upstream cancellation reached
  the server);
- "failed": the simulator answered with an HTTP error (validation, `error` spec) or cut the
  connection itself (`drop_after`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["running", "completed", "aborted", "failed"]
FINISHED: frozenset[str] = frozenset({"completed", "aborted", "failed"})


@dataclass(slots=True)
class RequestRecord:
    id: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    status: Status = "running"
    http_status: int | None = None
    response_id: str | None = None
    prompt_tokens: int | None = None
    chunks_sent: int = 0
    """Output pieces (completion tokens) written so far; the role chunk does not count."""
    finish_reason: str | None = None
    error: str | None = None
    finished_at: float | None = None
    body_error: str | None = None
    """Why the body is not JSON (then `body` is its raw text); handlers answer a 400."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "http_status": self.http_status,
            "response_id": self.response_id,
            "prompt_tokens": self.prompt_tokens,
            "chunks_sent": self.chunks_sent,
            "finish_reason": self.finish_reason,
            "error": self.error,
            "received_at": self.received_at,
            "finished_at": self.finished_at,
        }


@dataclass
class RequestLog:
    """Records in arrival order, plus a way to await a status change without sleeping."""

    records: list[RequestRecord] = field(default_factory=list)
    _next_id: int = 1
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, method: str, path: str, headers: dict[str, str], body: Any) -> RequestRecord:
        record = RequestRecord(
            id=self._next_id,
            method=method,
            path=path,
            headers=headers,
            body=body,
            received_at=time.time(),
        )
        self._next_id += 1
        self.records.append(record)
        self._notify()
        return record

    def get(self, record_id: int) -> RequestRecord | None:
        for record in self.records:
            if record.id == record_id:
                return record
        return None

    def finish(
        self,
        record: RequestRecord,
        status: Status,
        *,
        http_status: int | None = None,
        error: str | None = None,
    ) -> None:
        if record.status != "running":
            return  # the first ending wins (e.g. aborted during a write, then cleanup)
        record.status = status
        record.finished_at = time.time()
        if http_status is not None:
            record.http_status = http_status
        if error is not None:
            record.error = error
        self._notify()

    def clear(self) -> None:
        # Ids keep counting so a stale id never names a new request.
        self.records.clear()
        self._notify()

    def select(self, path: str | None = None, status: str | None = None) -> Iterable[RequestRecord]:
        for record in self.records:
            if path is not None and record.path != path:
                continue
            if status is not None and record.status != status:
                continue
            yield record

    async def wait_for(self, record_id: int, wanted: str, timeout: float) -> RequestRecord | None:
        """Wait until the record reaches `wanted` (a status, or "finished" for any end state).

        Returns the record (whatever its status) when reached or at the deadline; None if no
        such record exists. The caller compares the status to know which happened.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            record = self.get(record_id)
            if record is None or _reached(record, wanted):
                return record
            remaining = deadline - loop.time()
            if remaining <= 0:
                return record
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return self.get(record_id)

    def _notify(self) -> None:
        # Wake every waiter, then hand out a fresh event for the next change.
        self._changed.set()
        self._changed = asyncio.Event()


def _reached(record: RequestRecord, wanted: str) -> bool:
    if wanted == "finished":
        return record.status in FINISHED
    return record.status == wanted
