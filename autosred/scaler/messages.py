"""What a model's owner task is told: by requests and the operator (outside), by its timers,
and by its child tasks (a wake, a stop, a check) reporting back. Each is applied by
``ModelController.handle``, one at a time, in arrival order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from yarl import URL

from autosred.engines.base import Observation, Ready, WakeProgress
from autosred.recipes import Recipe
from autosred.scaler.state import Snapshot

# ------------------------------------------------------------------------------- from outside


@dataclass(frozen=True)
class Acquire:
    """A lease is wanted: ``future`` resolves to the endpoint (counted in flight) or fails."""

    future: asyncio.Future[URL]


@dataclass(frozen=True)
class Release:
    """A lease ended."""


@dataclass(frozen=True)
class CancelWait:
    """A held client went away before its lease was granted."""

    future: asyncio.Future[URL]


@dataclass(frozen=True)
class ScaleUp:
    ack: asyncio.Future[Snapshot]


@dataclass(frozen=True)
class ScaleDown:
    ack: asyncio.Future[Snapshot]


@dataclass(frozen=True)
class Unreachable:
    """A surface could not connect to the endpoint: check whether the server died."""


@dataclass(frozen=True)
class UpdateRecipe:
    recipe: Recipe


@dataclass(frozen=True)
class Retire:
    """The recipe was removed from the configuration."""


@dataclass(frozen=True)
class Evict:
    """The residency switches this model out for another that needs its GPUs."""


# --------------------------------------------------------------------------------- timers


@dataclass(frozen=True)
class IdleCheck:
    pass


@dataclass(frozen=True)
class CheckDue:
    pass


@dataclass(frozen=True)
class EvictDeadline:
    generation: int


# ---------------------------------------------------------------------------- child tasks


@dataclass(frozen=True)
class WakeStep:
    generation: int
    progress: WakeProgress


@dataclass(frozen=True)
class WakeFailure:
    reason: str
    kind: str = "wake_failed"
    """How the held clients are told: ``wake_failed`` or ``gpu``."""


@dataclass(frozen=True)
class WakeDone:
    generation: int
    seconds: float
    outcome: Ready | WakeFailure


@dataclass(frozen=True)
class StopDone:
    generation: int
    reason: str


@dataclass(frozen=True)
class Checked:
    generation: int
    observation: Observation | None
    """None when the engine could not be asked (see ``unavailable``)."""
    unavailable: str | None = None


Message = (
    Acquire
    | Release
    | CancelWait
    | ScaleUp
    | ScaleDown
    | Unreachable
    | UpdateRecipe
    | Retire
    | Evict
    | IdleCheck
    | CheckDue
    | EvictDeadline
    | WakeStep
    | WakeDone
    | StopDone
    | Checked
)
