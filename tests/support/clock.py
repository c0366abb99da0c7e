"""A monotonic clock the test moves by hand (for the injected ``clock`` seams)."""

from __future__ import annotations


class ManualClock:
    """Monotonic seconds that move only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
