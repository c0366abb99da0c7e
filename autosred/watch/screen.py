"""One screen of the view as a pure function: a frame and the viewer's choices in, a Rich
renderable out (no I/O, no clock: the tests render it into a string).

Every row is one line (no cell wraps: text is cut with an ellipsis), so the panes' heights
are known before Rich lays them out, and a screen of ``height`` lines is filled from the top:
the title, the models, the model server's figures, GPUs, connections, then what is left split
between the recent requests and the log. Without a height (a pipe, ``--once``) every pane
shows everything it has.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from autosred.admin.schema import (
    LogLine,
    RequestRecord,
    WatchConnection,
    WatchFrame,
    WatchGpu,
    WatchModel,
)
from autosred.watch import units
from autosred.watch.state import ViewState

KEYS = "q quit  m model  l log"

MAX_MODEL_ROWS = 8
"""On a bounded screen: more models than this share the last row's "+N more"."""
MAX_GPU_ROWS = 4

STATE_STYLE = {
    "ready": "green",
    "starting": "yellow",
    "stopping": "yellow",
    "failed": "bold red",
    "stopped": "dim",
}


@dataclass(frozen=True)
class _Column:
    header: str
    width: int | None = None
    """A fixed column (figures, states): its widest form; None: text sharing what is left."""
    right: bool = True
    """Figures line up on the right; words (a fixed column's too) on the left."""


@dataclass
class _Pane:
    """A titled table whose rows are one line each; ``newest_last`` keeps the last rows when
    there is not room for all (the log), else the first (requests, newest first)."""

    columns: Sequence[_Column]
    rows: list[list[Text]]
    title: Text | None = None
    show_header: bool = True
    newest_last: bool = False
    cap: int | None = None
    """At most this many rows on a bounded screen."""
    keep: int | None = None
    """A row shown even when the rows before it leave it no room (the model in focus)."""
    rows_shown: int = field(default=0, init=False)

    @property
    def overhead(self) -> int:
        return (self.title is not None) + self.show_header

    def wanted(self, bounded: bool) -> int:
        rows = len(self.rows)
        if bounded and self.cap is not None:
            rows = min(rows, self.cap)
        return self.overhead + rows


def render(
    frame: WatchFrame,
    state: ViewState,
    *,
    width: int,
    height: int | None,
    note: str | None = None,
    keys: bool = True,
) -> RenderableType:
    """The screen for ``frame`` as the viewer chose it; ``note`` (a lost connection, say) is
    shown on the title line, and with ``keys`` what the keys do."""
    fixed = [
        _models_pane(frame.models, state),
        _server_pane(frame.models, state),
        _gpu_pane(frame.gpus),
        _connections_pane(frame.connections),
    ]
    requests = _requests_pane(frame.requests, state)
    log = _log_pane(frame.log, state) if state.show_log else None
    flexible = [requests] + ([log] if log is not None else [])
    panes = [p for p in fixed if p is not None]
    _allot(panes, flexible, height=None if height is None else height - 1)
    parts: list[RenderableType] = [_title(frame, state, note, keys=keys)]
    for pane in [*panes, *flexible]:
        parts.extend(_draw(pane, width))
    return Group(*parts)


def _allot(fixed: list[_Pane], flexible: list[_Pane], *, height: int | None) -> None:
    """How many rows each pane shows: the fixed panes first, then the rest of the screen to the
    flexible ones (split evenly, what one does not need going to the other)."""
    if height is None:
        for pane in [*fixed, *flexible]:
            pane.rows_shown = len(pane.rows)
        return
    left = height
    for pane in fixed:
        if left < pane.overhead + min(1, len(pane.rows)):
            pane.rows_shown = -1  # not even one row fits: left out
            continue
        pane.rows_shown = min(pane.wanted(True), left) - pane.overhead
        left -= pane.overhead + pane.rows_shown
    # Each in turn gets an even share of what is left; a pane that needs less frees the rest
    # for the others (the smallest first, so the share only grows).
    for index, pane in enumerate(sorted(flexible, key=lambda p: p.wanted(True))):
        share = max(0, left) // (len(flexible) - index)
        if share < pane.overhead + min(1, len(pane.rows)):
            pane.rows_shown = -1  # no room for its title and one row: left out
            continue
        pane.rows_shown = min(len(pane.rows), share - pane.overhead)
        left -= pane.overhead + pane.rows_shown


def _draw(pane: _Pane, width: int) -> list[RenderableType]:
    if pane.rows_shown < 0:
        return []
    rows = pane.rows
    hidden = len(rows) - pane.rows_shown
    kept = rows[hidden:] if pane.newest_last else rows[: pane.rows_shown]
    out: list[RenderableType] = []
    if pane.title is not None:
        title = pane.title.copy()
        if hidden > 0:
            title.append(f"  (+{hidden} more)", style="dim")
        title.no_wrap = True
        title.overflow = "ellipsis"
        out.append(title)
    if not kept:
        return out
    if hidden > 0 and pane.title is None:
        # No title to say it on: the last row that fits says how many did not.
        visible = [*range(len(kept) - 1)]
        if visible and pane.keep is not None and pane.keep > visible[-1]:
            visible[-1] = pane.keep  # the row in focus stays in sight
        more = Text(f"+{len(rows) - len(visible)} more", style="dim")
        kept = [*(rows[i] for i in visible), [more, *(Text("") for _ in pane.columns[1:])]]
    if len(pane.columns) == 1 and not pane.show_header:
        # Lines, not a table: nothing to line up, and no padding after the text.
        for (line,) in kept:
            line.no_wrap = True
            line.overflow = "ellipsis"
            out.append(line)
        return out
    out.append(_table(pane.columns, kept, width=width, show_header=pane.show_header))
    return out


def _table(
    columns: Sequence[_Column], rows: list[list[Text]], *, width: int, show_header: bool
) -> Table:
    """A borderless table in ``width`` cells: the fixed columns at their widths, the text
    columns sharing the rest (each its own width if all fit, else the narrow ones theirs and
    the wide ones cut to an even share of what is left)."""
    fixed = sum(max(c.width, len(c.header)) for c in columns if c.width is not None)
    free = width - fixed - (len(columns) - 1)
    natural = {
        i: max([len(c.header), *(rows[r][i].cell_len for r in range(len(rows)))])
        for i, c in enumerate(columns)
        if c.width is None
    }
    limits: dict[int, int] = {}
    for n, (i, wanted) in enumerate(sorted(natural.items(), key=lambda item: item[1])):
        share = max(4, free // (len(natural) - n))
        limits[i] = min(wanted, share)
        free -= limits[i]
    table = Table(
        box=None,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
        show_header=show_header,
        header_style="bold",
        expand=False,
    )
    for i, column in enumerate(columns):
        table.add_column(
            column.header,
            justify="right" if column.right and column.width else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=max(column.width, len(column.header)) if column.width is not None else None,
            max_width=limits.get(i),
        )
    for row in rows:
        table.add_row(*row)
    return table


def _title(frame: WatchFrame, state: ViewState, note: str | None, *, keys: bool) -> Text:
    text = Text("autosred", style="bold")
    text.append(f"  {units.clock(frame.at)}")
    if note:
        # Before the rest: it says the figures below are as of the time shown, not now.
        text.append(f"  {_clean(note)}", style="bold red")
    running = sum(1 for m in frame.models if m.state == "ready")
    text.append(f"  {len(frame.models)} models, {running} ready")
    text.append("  focus: ")
    text.append(_clean(state.focus or "all"), style="bold cyan")
    if keys:
        text.append(f"  {KEYS}", style="dim")
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
"""Terminal escape sequences (CSI, OSC, the two-byte ones): a colourised server log line
must not move the cursor or change colours on the viewer's screen."""


def _clean(text: str) -> str:
    """What the daemon relays (names, log lines) made safe to print in one cell: escape
    sequences dropped, other control characters (tabs, newlines) shown as one space or ``?``."""
    if text.isprintable():
        return text
    text = _ESCAPE.sub("", text)
    return "".join(ch if ch.isprintable() else " " if ch in "\t\n\r" else "?" for ch in text)


def _cell(value: str, style: str = "") -> Text:
    return Text(_clean(value), style=style)


def _models_pane(models: Sequence[WatchModel], state: ViewState) -> _Pane:
    columns = [
        _Column("MODEL"),
        _Column("STATE", 8, right=False),
        _Column("NOTE"),
        _Column("ETA", 6),
        _Column("UP", 6),
        _Column("IDLE IN", 6),
        _Column("FLIGHT", 4),
        _Column("HELD", 4),
        _Column("VRAM", 6),
    ]
    rows = []
    for model in models:
        focused = state.focus == model.name
        name = _cell(("> " if focused else "") + model.name, "bold" if focused else "")
        rows.append(
            [
                name,
                _cell(model.state, STATE_STYLE.get(model.state, "")),
                _model_note(model),
                _cell(units.seconds(model.eta_seconds)),
                _cell(units.seconds(model.uptime_seconds)),
                _cell(units.seconds(model.idle_left_seconds)),
                _cell(str(model.in_flight)),
                _cell(str(model.held), "yellow" if model.held else ""),
                _cell(units.gib(model.residency_bytes) if model.residency_bytes else units.DASH),
            ]
        )
    if not rows:
        rows.append([_cell("no models configured", "dim"), *[_cell("") for _ in columns[1:]]])
    names = [model.name for model in models]
    keep = names.index(state.focus) if state.focus in names else None
    return _Pane(columns, rows, cap=MAX_MODEL_ROWS, keep=keep)


def _model_note(model: WatchModel) -> Text:
    """The wake's phase while starting, why it failed, or the fields that drifted from the
    recipe."""
    if model.state == "starting":
        return _cell(model.phase or "starting", "yellow")
    if model.state == "failed" and model.last_error:
        return _cell(model.last_error, "red")
    if model.drift:
        return _cell("drift: " + ", ".join(d.field for d in model.drift), "magenta")
    return _cell("")


def _server_pane(models: Sequence[WatchModel], state: ViewState) -> _Pane:
    columns = [
        _Column("SERVER"),
        _Column("RUN", 4),
        _Column("WAIT", 4),
        _Column("KV", 4),
        _Column("PROMPT/s", 6),
        _Column("GEN/s", 6),
        _Column("TTFT50", 6),
        _Column("TTFT95", 6),
        _Column("PREFIX", 4),
    ]
    rows = []
    for model in models:
        figures = model.server
        if figures is None or not state.shows(model.name):
            continue
        waiting = figures.requests_waiting
        rows.append(
            [
                _cell(model.name),
                _cell(units.count(figures.requests_running)),
                _cell(units.count(waiting), "yellow" if waiting else ""),
                _kv(figures.kv_cache_usage),
                _cell(units.count(figures.prompt_tokens_per_second)),
                _cell(units.count(figures.generation_tokens_per_second)),
                _cell(units.seconds(figures.ttft_p50_seconds)),
                _cell(units.seconds(figures.ttft_p95_seconds)),
                _cell(units.percent(figures.prefix_cache_hit_rate)),
            ]
        )
    if not rows:
        return _Pane(
            [_Column("SERVER")],
            [[_cell("model server: no figures (not running)", "dim")]],
            show_header=False,
        )
    return _Pane(columns, rows, cap=MAX_MODEL_ROWS)


def _kv(usage: float | None) -> Text:
    style = "bold red" if usage is not None and usage >= 0.9 else ""
    return _cell(units.percent(usage), style)


def _gpu_pane(gpus: Sequence[WatchGpu]) -> _Pane | None:
    if not gpus:
        return None
    rows = []
    for gpu in gpus:
        line = Text(f"gpu{gpu.index} ", style="bold")
        line.append(_clean(gpu.name))
        used = gpu.memory_used_bytes / gpu.memory_total_bytes if gpu.memory_total_bytes else None
        line.append(
            f"  mem {units.gib(gpu.memory_used_bytes)}/{units.gib(gpu.memory_total_bytes)}"
            f" {units.percent(used)}",
            style="bold red" if used is not None and used >= 0.95 else "",
        )
        if gpu.utilization_percent is not None:
            line.append(f"  util {gpu.utilization_percent:.0f}%")
        if gpu.temperature_celsius is not None:
            line.append(f"  {gpu.temperature_celsius:.0f}°C")
        if gpu.power_watts is not None:
            line.append(f"  {gpu.power_watts:.0f}W")
        rows.append([line])
    return _Pane([_Column("GPU")], rows, show_header=False, cap=MAX_GPU_ROWS)


def _connections_pane(connections: Sequence[WatchConnection]) -> _Pane:
    line = Text("connections", style="bold")
    if not connections:
        line.append("  none", style="dim")
    by_place: dict[str, list[WatchConnection]] = {}
    for connection in connections:
        place = connection.listener
        if connection.surface and connection.surface != connection.listener:
            place = f"{connection.listener}/{connection.surface}"
        by_place.setdefault(place, []).append(connection)
    for place, group in by_place.items():
        peers = ", ".join(
            f"{c.peer}×{c.count}" for c in sorted(group, key=lambda c: (-c.count, c.peer))
        )
        line.append(f"  {_clean(place)}: ", style="cyan")
        line.append(_clean(peers))
    return _Pane([_Column("CONNECTIONS")], [[line]], show_header=False)


def _requests_pane(requests: Sequence[RequestRecord], state: ViewState) -> _Pane:
    columns = [
        _Column("TIME", 8, right=False),
        _Column("SURFACE"),
        _Column("CLIENT"),
        _Column("MODEL"),
        _Column("ST", 3),
        _Column("TTFB", 6),
        _Column("IN", 6),
        _Column("OUT", 6),
        _Column("DUR", 6),
    ]
    rows = [
        [
            _cell(units.clock(r.at), "dim"),
            _cell(r.surface),
            _cell(r.client),
            _cell(r.model),
            _cell(r.status, _status_style(r.status)),
            _cell(units.seconds(r.ttfb_seconds)),
            _cell(units.count(r.tokens_in)),
            _cell(units.count(r.tokens_out)),
            _cell(units.seconds(r.duration_seconds)),
        ]
        for r in requests
        if state.shows(r.model)
    ]
    title = Text("requests", style="bold")
    title.append(" (newest first)" if rows else "  none yet", style="dim")
    return _Pane(columns, rows, title=title, show_header=bool(rows))


def _status_style(status: str) -> str:
    """5xx and failed streams red, 4xx yellow (499: the client left), the rest green."""
    if status.startswith("5") or not status.isdigit():
        return "bold red"
    if status.startswith("4"):
        return "yellow"
    return "green"


def _log_pane(lines: Sequence[LogLine], state: ViewState) -> _Pane:
    shown = [line for line in lines if state.shows(line.model)]
    title = Text("log", style="bold")
    title.append(f" ({_clean(state.focus or 'all models')})", style="dim")
    prefix: Callable[[LogLine], str] = (
        (lambda line: "") if state.focus is not None else (lambda line: f"{line.model} | ")
    )
    rows = [[_cell(prefix(line) + line.line)] for line in shown]
    if not rows:
        title.append("  nothing yet", style="dim")
    return _Pane([_Column("LOG")], rows, title=title, show_header=False, newest_last=True)
