"""Wake-duration history, persisted so ETAs survive a daemon restart."""

from __future__ import annotations

import json
import logging
import os
import statistics
from pathlib import Path

_KEEP = 20


class WakeHistory:
    """The last few wake durations per model, stored as JSON in the state directory."""

    def __init__(self, path: Path, *, log: logging.Logger) -> None:
        self._path = path
        self._log = log
        self._durations: dict[str, list[float]] = self._load()

    def _load(self) -> dict[str, list[float]]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self._log.warning(
                "scaler.history_unreadable",
                extra={"fields": {"path": str(self._path), "error": str(exc)}},
            )
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(name): [float(d) for d in values if isinstance(d, int | float)][-_KEEP:]
            for name, values in data.items()
            if isinstance(values, list)
        }

    def expected(self, model: str) -> float | None:
        """The median of recent wakes: robust against one slow cold start."""
        durations = self._durations.get(model)
        return statistics.median(durations) if durations else None

    def last(self, model: str) -> float | None:
        durations = self._durations.get(model)
        return durations[-1] if durations else None

    def record(self, model: str, seconds: float) -> None:
        self._durations.setdefault(model, []).append(round(seconds, 3))
        del self._durations[model][:-_KEEP]
        self._save()

    def _save(self) -> None:
        # Write-then-rename so a crash mid-write never leaves a truncated file.
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._durations, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self._path)
        except OSError as exc:
            self._log.warning(
                "scaler.history_unwritable",
                extra={"fields": {"path": str(self._path), "error": str(exc)}},
            )
