"""The plain-text views: durations, the notes next to a model, the browser's line."""

from __future__ import annotations

from dataclasses import replace

import pytest

from autosred.admin.schema import BrowserStatus, ModelStatus, Progress, Status
from autosred.ctl.render import browser_line, duration, model_note, progress_line, status_view


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


def test_the_browser_line_in_status() -> None:
    running = BrowserStatus(
        state="running", mode="launch", target="chromium", sessions=2, idle_in_seconds=250
    )
    assert browser_line(running) == "running (launch chromium), 2 sessions, idle in 4m 10s"
    stopped = BrowserStatus(
        state="stopped", mode="cdp", target="ws://b:3000", last_error="connection refused"
    )
    assert browser_line(stopped) == "stopped (cdp ws://b:3000); last error: connection refused"
    status = Status(version="1", pid=1, uptime_seconds=1, engine="static", browser=running)
    assert "\nbrowser: running (launch chromium)" in status_view(status)
    assert "browser:" not in status_view(replace(status, browser=None))
