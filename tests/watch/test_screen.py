"""The view as a pure function of a frame: what each pane shows, and that any frame fits any
screen (no line wider than the terminal, no more lines than it has)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from autosred.admin.schema import LogLine, ServerFigures, WatchFrame, WatchModel
from autosred.watch import units
from autosred.watch.state import ViewState

from .frames import busy_frame, frames, screen


def _row(lines: list[str], first: str) -> list[str]:
    """The cells of the line whose first cells are ``first`` (cells split at spaces)."""
    head = first.split()
    return next(line.split() for line in lines if line.split()[: len(head)] == head)


def test_each_pane_shows_its_figures() -> None:
    lines = screen(busy_frame(), width=120, height=60)
    text = "\n".join(lines)
    assert lines[0].startswith("autosred ")
    assert "focus: all" in lines[0] and "q quit" in lines[0]
    assert _row(lines, "qwen3-coder-30b ready")[1:] == [
        "ready",
        "-",
        "1h02m",
        "8m32s",
        "2",
        "0",
        "70.0G",
    ]
    assert " ".join(_row(lines, "embed ")[1:5]) == "starting loading weights 42.0s"
    assert "drift: container.args" in text
    # The model server's figures: running, waiting, KV cache, tokens/s, TTFT p50/p95, prefix.
    assert _row(lines, "SERVER") == [
        "SERVER",
        "RUN",
        "WAIT",
        "KV",
        "PROMPT/s",
        "GEN/s",
        "TTFT50",
        "TTFT95",
        "PREFIX",
    ]
    assert _row(lines, "qwen3-coder-30b 2")[1:] == [
        "2",
        "3",
        "43%",
        "12.3k",
        "88",
        "230ms",
        "1.9s",
        "71%",
    ]
    assert "gpu0 NVIDIA H200  mem 70.0G/141.0G 50%  util 45%  61°C  210W" in text
    assert "api: 127.0.0.1×3" in text and "codex: 10.0.0.7×1" in text
    # Requests newest first, every figure of the row.
    header = lines.index(next(line for line in lines if line.startswith("TIME ")))
    assert lines[header].split() == [
        "TIME",
        "SURFACE",
        "CLIENT",
        "MODEL",
        "ST",
        "TTFB",
        "IN",
        "OUT",
        "DUR",
    ]
    newest = lines[header + 1].split()
    assert newest[1:] == ["responses", "laptop", "embed", "502", "200ms", "12.0k", "300", "4.2s"]
    assert lines[header + 2].split()[4] == "200"
    # The log's newest line last.
    assert lines[-1] == "qwen3-coder-30b | log line 19"


def test_a_small_screen_keeps_the_newest_and_says_what_it_left_out() -> None:
    lines = screen(busy_frame(), width=80, height=24)
    assert len(lines) == 24
    assert "requests (newest first)  (+" in "\n".join(lines)
    assert "log (all models)  (+" in "\n".join(lines)
    assert lines[-1] == "qwen3-coder-30b | log line 19"


def test_m_focuses_one_model_and_l_hides_the_log() -> None:
    frame = busy_frame()
    state = ViewState().cycle([m.name for m in frame.models])
    assert state.focus == "qwen3-coder-30b"
    lines = screen(frame, state, width=120, height=60)
    assert "focus: qwen3-coder-30b" in lines[0]
    assert any(line.startswith("> qwen3-coder-30b") for line in lines)
    requests = [line for line in lines if line[:2].isdigit() and ":" in line[:8]]
    assert requests and all("qwen3-coder-30b" in line for line in requests)
    assert "log (qwen3-coder-30b)" in lines
    assert "embed | " not in "\n".join(lines)
    assert lines[-1] == "log line 19"  # one model's log: no name before each line
    hidden = screen(frame, state.toggle_log(), width=120, height=60)
    assert not any(line.startswith("log (") for line in hidden)
    # Cycling goes through every model and back to all of them.
    for _ in frame.models:
        state = state.cycle([m.name for m in frame.models])
    assert state.focus is None


def test_a_model_that_went_away_loses_the_focus() -> None:
    assert ViewState(focus="gone").cycle(["a", "b"]).focus is None
    assert ViewState(focus="b").cycle([]).focus is None


def test_escape_sequences_from_a_log_never_reach_the_terminal() -> None:
    frame = WatchFrame(
        at=0,
        models=[WatchModel(name="m\x1b[2Jx", state="ready", server=ServerFigures())],
        log=[LogLine(model="m", line="\x1b[31mred\x1b[0m\tand\x1b]0;title\x07 a bell\x07")],
    )
    text = "\n".join(screen(frame, width=80, height=24))
    assert "\x1b" not in text and "\x07" not in text and "\t" not in text
    assert "m | red and a bell?" in text
    assert "mx" in text


def test_a_note_and_an_empty_daemon() -> None:
    lines = screen(WatchFrame(at=0), note="lost the daemon; reconnecting")
    assert "lost the daemon; reconnecting" in lines[0]
    text = "\n".join(lines)
    assert "no models configured" in text
    assert "model server: no figures" in text
    assert "requests  none yet" in text
    assert "connections  none" in text


@settings(max_examples=60, deadline=None)
@given(frame=frames, width=st.integers(40, 200), height=st.integers(8, 80))
def test_any_frame_fits_any_screen(frame: WatchFrame, width: int, height: int) -> None:
    lines = screen(frame, ViewState(), width=width, height=height)
    assert len(lines) <= height
    assert all(cell_len(line) <= width for line in lines), lines
    assert lines[0].startswith("autosred")


@settings(max_examples=20, deadline=None)
@given(frame=frames, width=st.integers(40, 200))
def test_without_a_height_every_row_is_printed(frame: WatchFrame, width: int) -> None:
    lines = screen(frame, ViewState(), width=width, height=None)
    assert all(cell_len(line) <= width for line in lines)
    assert len(lines) >= 1 + len(frame.models) + len(frame.requests) + len(frame.log)


def test_more_models_than_fit_say_how_many_are_left_out() -> None:
    frame = WatchFrame(at=0, models=[WatchModel(name=f"m{i}", state="stopped") for i in range(12)])
    lines = screen(frame, width=80, height=24)
    shown = [line.split()[0] for line in lines if line.split()[1:2] == ["stopped"]]
    assert shown == [f"m{i}" for i in range(7)]
    assert any(line.strip() == "+5 more" for line in lines)
    # The model in focus stays in sight, in the last row before the count.
    lines = screen(frame, ViewState(focus="m10"), width=80, height=24)
    rows = [line.split()[:2] for line in lines if line.split()[:1] in (["m6"], [">"])]
    assert rows == [[">", "m10"]]
    assert any(line.strip() == "+5 more" for line in lines)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (float("nan"), "-"),
        (0.2304, "230ms"),
        (8.44, "8.4s"),
        (725, "12m05s"),
        (3725, "1h02m"),
        (2 * 86400 + 4 * 3600, "2d04h"),
        (-3, "0ms"),
    ],
)
def test_seconds(value: float | None, text: str) -> None:
    assert units.seconds(value) == text


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(None, "-"), (0, "0%"), (0.0001, "<0.1%"), (0.004, "0.4%"), (0.43, "43%"), (1, "100%")],
)
def test_percent_never_shows_a_trickle_as_nothing(fraction: float | None, text: str) -> None:
    assert units.percent(fraction) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (7, "7"), (0.5, "0.5"), (88.2, "88"), (12345, "12.3k"), (4.1e6, "4.1M")],
)
def test_count(value: float | None, text: str) -> None:
    assert units.count(value) == text
