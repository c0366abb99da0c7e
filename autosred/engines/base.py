"""The seam between "what model runs where" and everything else.

An engine starts, stops and observes model servers for recipes. It knows nothing of requests,
idle timers or clients: the scaler drives it, one owner task per model.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from yarl import URL

from autosred.recipes import Recipe
from autosred.recipes.drift import DriftResult, FieldDrift


@dataclass(frozen=True)
class WakeProgress:
    """One step of a start, as shown to held clients (``: waking phase=…``) and autosrectl."""

    phase: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Ready(WakeProgress):
    """The last step of a start: the server answers its health check at ``url``.

    The engine reports where the server answers with its readiness, and the scaler keeps it:
    one owner for the endpoint, no address cached on both sides."""

    url: URL
    """Base URL (no /v1) of the recipe's OpenAI-compatible server."""
    drift: tuple[FieldDrift, ...] | None = None
    """What runs differs from the recipe in these fields; None when the engine does not
    deploy from the recipe (it cannot tell)."""


class WakeFailed(Exception):
    """The model server could not be started; ``reason`` is fit to show a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Observed(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"


class EngineUnavailable(Exception):
    """What runs the model servers cannot be asked now (e.g. the Kubernetes API server is
    unreachable): the state is unknown, not stopped. ``reason`` is fit to show a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Observation:
    state: Observed
    detail: str = ""
    endpoint: URL | None = None
    """RUNNING: where the server answers (base URL, no /v1); a replaced pod comes back on a
    new address, and the scaler takes it from here."""
    drift: tuple[FieldDrift, ...] | None = None
    """RUNNING: the fields in which what runs differs from the recipe (empty when it matches);
    None when the engine does not deploy from the recipe. Data only: the scaler logs and
    exports it."""


class ApplyRefused(Exception):
    """A recipe apply the API server refused (a conflict, an invalid object, no right) or
    that would take over another's object; ``reason`` is fit to show a user."""

    def __init__(self, reason: str, *, conflict: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.conflict = conflict


@dataclass(frozen=True)
class AppliedObject:
    """One object of a recipe apply: what the apply did (or, dry, would do) to it."""

    kind: str
    name: str
    action: Literal["created", "configured", "unchanged"]
    diff: str
    """Unified diff of the live object against the result (server-managed fields left out);
    empty when unchanged."""


@runtime_checkable
class RecipeApplier(Protocol):
    """An engine that can create or patch a recipe's objects on request (server-side apply)."""

    @property
    def namespace(self) -> str:
        """Where the objects go."""
        ...

    async def apply(self, recipe: Recipe, *, dry_run: bool, force: bool) -> list[AppliedObject]:
        """Each object as applied, or with ``dry_run`` as the API server says it would be;
        raises ApplyRefused, or EngineUnavailable when the API cannot be reached."""
        ...


@runtime_checkable
class DriftSource(Protocol):
    """An engine that renders the model server from the recipe and can compare what runs."""

    async def drift(self, recipe: Recipe) -> DriftResult:
        """Field-level differences (data: nothing logged); raises EngineUnavailable when it
        cannot look."""
        ...


@runtime_checkable
class LogSource(Protocol):
    """An engine that can show what a model server wrote (the live view's log pane)."""

    async def log_tail(self, recipe: Recipe, lines: int) -> list[str]:
        """The server's last ``lines`` lines of output, oldest first ([] when nothing runs);
        raises EngineUnavailable when they cannot be read now."""
        ...


@runtime_checkable
class ProcessOwner(Protocol):
    """An engine that can tell which host processes are a model's server (so that the GPU
    memory NVML lists by process can be told per model)."""

    async def server_processes(self, recipe: Recipe, pids: Collection[int]) -> set[int]:
        """Which of these host pids are part of the recipe's running server (none when
        nothing runs); raises EngineUnavailable when it cannot tell now."""
        ...


class Engine(Protocol):
    """Runs model servers for recipes."""

    kind: str

    def start(self, recipe: Recipe) -> AsyncIterator[WakeProgress]:
        """Yield phases until the server answers its health check, the last one a ``Ready``
        with its endpoint; raise WakeFailed(reason).

        Cancelling the iteration (wake budget exceeded, shutdown) leaves whatever it started for
        ``stop`` to clean up.
        """
        ...

    async def stop(self, recipe: Recipe) -> None:
        """Stop the server (idempotent)."""
        ...

    async def observe(self, recipe: Recipe) -> Observation:
        """What runs now, without changing it: adopted after a daemon restart."""
        ...

    async def aclose(self) -> None:
        """Release everything the engine holds (children, sessions); called once at exit."""
        ...
