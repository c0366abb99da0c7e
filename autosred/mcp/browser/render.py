"""What the model reads after a browser action: where it is, what was refused, and the
page's accessibility snapshot (``- button "Sign in" [ref=e12]``), capped. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from autosred.web.browser.session import PageView, Tab

MAX_LINE = 300
"""Characters kept of a URL or a title."""


def cap(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a line end, with a note saying so."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    kept = text[: cut if cut > 0 else limit]
    return (
        f"{kept}\n… (cut at {len(kept):,} of {len(text):,} characters: call snapshot with a "
        "ref for one part of the page, or scroll)"
    )


def render_view(view: PageView, *, done: str, max_chars: int) -> str:
    """The answer to an action: ``done`` (what happened), the page, the snapshot."""
    lines = [done] if done else []
    lines.append(f"Page: {_short(view.url)}")
    if view.title:
        lines.append(f"Title: {_short(view.title)}")
    if view.tabs > 1:
        lines.append(f"Tab {view.current_tab} of {view.tabs} open (tabs lists them).")
    for refusal in view.refused:
        lines.append(
            f"Blocked request to {_short(refusal.host)}:{refusal.port}: {_short(refusal.reason)}"
        )
    head = "\n".join(lines)
    room = max(200, max_chars - len(head) - 20)
    return f"{head}\nSnapshot:\n{cap(view.snapshot, room)}"


def render_tabs(tabs: Sequence[Tab]) -> str:
    if not tabs:
        return "No tab is open."
    return "\n".join(
        f"{'*' if tab.current else ' '} {tab.index}: {_short(tab.title) or '(no title)'} "
        f"- {_short(tab.url)}"
        for tab in tabs
    )


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_LINE else flat[: MAX_LINE - 1] + "…"
