"""The states a model is in, and what the outside world may read of them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from autosred.recipes.drift import FieldDrift


class ModelState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    FAILED = "failed"


@dataclass(frozen=True)
class Snapshot:
    """A read-only picture of one model, published by its owner task after every change."""

    name: str
    state: ModelState
    in_flight: int = 0
    held: int = 0
    phase: str | None = None
    detail: str = ""
    eta_seconds: float | None = None
    """Seconds until the wake under way is expected to finish (from the wake history)."""
    last_wake_seconds: float | None = None
    idle_deadline: float | None = None
    """Wall-clock time (epoch seconds) of the idle scale-down; None while busy or never."""
    last_error: str | None = None
    degraded: str | None = None
    """Why the engine cannot be asked now (e.g. the Kubernetes API server is unreachable);
    requests are still served through the known endpoint."""
    endpoint: str | None = None
    ready_since: float | None = None
    """Wall-clock time (epoch seconds) it became ready; None when not ready."""
    drift: tuple[FieldDrift, ...] = ()
    """How the running server differs from its recipe, as last checked (empty: it does not,
    the engine cannot tell, or nothing runs)."""


class ModelUnavailable(Exception):
    """A lease could not be granted: the client gets 503/529 with ``Retry-After``."""

    def __init__(self, reason: str, *, retry_after: float, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.kind = kind
        """hold_cap | wake_failed | shutting_down | removed"""
