"""Plain-text views of admin API answers (no rich: `status` must start fast)."""

from __future__ import annotations

from collections.abc import Sequence

from autosred.admin.schema import BrowserStatus, ModelStatus, Progress, Status

DASH = "-"


def duration(seconds: float | None) -> str:
    """Short and human: ``8.4s``, ``12m 05s``, ``3h 02m``, ``2d 04h``; ``-`` for unknown."""
    if seconds is None:
        return DASH
    if seconds < 60:
        return f"{seconds:.1f}s"
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> str:
    """Columns padded to their widest cell; ``right`` holds the indexes of numeric columns."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def model_note(model: ModelStatus) -> str:
    """What is worth knowing beyond the numbers: the wake phase, or why it failed."""
    if model.state == "starting":
        parts = [model.phase or "starting"]
        if model.eta_seconds is not None:
            parts.append(f"eta {duration(model.eta_seconds)}")
        return ", ".join(parts)
    if model.state == "failed" and model.last_error:
        return model.last_error
    if model.degraded:
        return f"degraded: {model.degraded}"
    return ""


def browser_line(browser: BrowserStatus) -> str:
    """``running (launch /usr/bin/chromium), 2 sessions, idle in 4m 10s``."""
    text = f"{browser.state} ({browser.mode} {browser.target})"
    if browser.state == "running":
        text += f", {browser.sessions} session{'' if browser.sessions == 1 else 's'}"
        if browser.in_flight:
            text += f", {browser.in_flight} in flight"
        if browser.idle_in_seconds is not None:
            text += f", idle in {duration(browser.idle_in_seconds)}"
    elif browser.state == "starting" and browser.in_flight:
        text += f", {browser.in_flight} held"
    if browser.last_error:
        text += f"; last error: {browser.last_error}"
    return text


def status_view(status: Status) -> str:
    head = (
        f"autosred {status.version} (pid {status.pid}, up {duration(status.uptime_seconds)}, "
        f"engine {status.engine})"
    )
    lines = [head]
    if status.listeners:
        lines.append("listeners:")
        width = max(len(name) for name in status.listeners)
        lines += [f"  {name.ljust(width)}  {addr}" for name, addr in status.listeners.items()]
    if status.browser is not None:
        lines.append(f"browser: {browser_line(status.browser)}")
    lines.append("")
    if not status.models:
        lines.append("no models configured")
        return "\n".join(lines)
    rows = [
        [
            m.name,
            m.state,
            str(m.in_flight),
            str(m.held),
            duration(m.last_wake_seconds),
            duration(m.idle_in_seconds),
            model_note(m),
        ]
        for m in status.models
    ]
    headers = ["MODEL", "STATE", "IN-FLIGHT", "HELD", "LAST WAKE", "IDLE IN", "NOTE"]
    lines.append(table(headers, rows, right={2, 3, 4, 5}))
    return "\n".join(lines)


def models_view(models: Sequence[ModelStatus]) -> str:
    if not models:
        return "no models configured"
    rows = [
        [
            m.name,
            m.served_model_name,
            m.state,
            ", ".join(m.aliases) or DASH,
            m.endpoint or DASH,
        ]
        for m in models
    ]
    return table(["NAME", "SERVED AS", "STATE", "ALIASES", "ENDPOINT"], rows, right=set())


def progress_line(progress: Progress) -> str:
    """``qwen: starting: pulling image (image 3 GiB, eta 42.0s)``."""
    text = f"{progress.model}: {progress.state}"
    if progress.phase and progress.phase != progress.state:
        text += f": {progress.phase}"
    extras = [progress.detail] if progress.detail else []
    if progress.eta_seconds is not None:
        extras.append(f"eta {duration(progress.eta_seconds)}")
    if extras:
        text += f" ({', '.join(extras)})"
    return text
