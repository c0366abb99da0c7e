"""The plain-text views: durations and the notes next to a model."""

from __future__ import annotations

import pytest

from autosred.admin.schema import ModelStatus, Progress
from autosred.ctl.render import duration, model_note, progress_line


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0.0s"),
        (8.44, "8.4s"),
        (59.94, "59.9s"),
        (60, "1m 00s"),
        (725, "12m 05s"),
        (3725, "1h 02m"),
        (2 * 86400 + 4 * 3600 + 59, "2d 04h"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_notes_say_the_phase_or_the_error() -> None:
    starting = ModelStatus(
        name="m", served_model_name="m", state="starting", phase="pulling image", eta_seconds=90
    )
    assert model_note(starting) == "pulling image, eta 1m 30s"
    failed = ModelStatus(name="m", served_model_name="m", state="failed", last_error="OOMKilled")
    assert model_note(failed) == "OOMKilled"
    assert model_note(ModelStatus(name="m", served_model_name="m", state="ready")) == ""


def test_progress_line() -> None:
    assert progress_line(Progress("m", "ready")) == "m: ready"
    assert progress_line(Progress("m", "stopping", "stopping")) == "m: stopping"
    line = progress_line(Progress("m", "starting", "pulling image", "2/3 layers", 12))
    assert line == "m: starting: pulling image (2/3 layers, eta 12.0s)"
