"""What a model's owner does once its in-flight requests have drained: one value, not flags.

Several wishes can be pending at once (an operator's scale-down, a switch, the recipe's
removal, a drift redeploy); they all mean "stop once idle", and differ only in why and in what
happens after. Keeping one value makes contradictions impossible: the strongest wish wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DrainReason = Literal["drift", "admin", "switch", "removed"]
"""Weakest first: a removal outranks a switch, which outranks an operator's scale-down, which
outranks a redeploy (an operator who scales down does not want it woken again)."""

_STRENGTH: dict[DrainReason, int] = {"drift": 0, "admin": 1, "switch": 2, "removed": 3}


@dataclass(frozen=True)
class Drain:
    """Stop for ``reason`` once nothing is in flight; then wake again or not."""

    reason: DrainReason
    wake_again: bool = False

    @property
    def holds_requests(self) -> bool:
        """A switch holds new requests (they wait for the wake after it); other reasons keep
        granting leases on the running server until it stops."""
        return self.reason == "switch"

    @property
    def ends_owner(self) -> bool:
        """The recipe was removed: once stopped, the owner task ends."""
        return self.reason == "removed"


REDEPLOY = Drain("drift", wake_again=True)
ADMIN = Drain("admin")
SWITCH = Drain("switch")
REMOVED = Drain("removed")


def stronger(current: Drain | None, wish: Drain) -> Drain:
    """The pending value after ``wish`` arrives."""
    if current is None or _STRENGTH[wish.reason] >= _STRENGTH[current.reason]:
        return wish
    return current
