"""What the model reads, pure: the snapshot cut at a line end within the cap with a note
(any text, hypothesis), the page's lines, refusals, tabs; the tools' schemas without
pydantic's titles (every client request carries them)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from autosred.config import BrowserSettings
from autosred.mcp.browser import BrowserTools
from autosred.mcp.browser.render import cap, render_tabs, render_view
from autosred.web.browser.session import PageView, Tab
from autosred.web.browser.socksguard import GuardRefusal
from autosred.web.browser.workload import BrowserWorkload

NOTE_ROOM = 200


@given(st.text(max_size=5000), st.integers(min_value=1, max_value=3000))
def test_cap_keeps_a_prefix_within_the_limit(text: str, limit: int) -> None:
    capped = cap(text, limit)
    if len(text) <= limit:
        assert capped == text
        return
    kept, _, note = capped.rpartition("\n… (cut at ")
    assert text.startswith(kept) and len(kept) <= limit
    assert note.startswith(f"{len(kept):,} of {len(text):,} characters")
    assert len(capped) <= limit + NOTE_ROOM


def test_the_view_says_where_the_page_is_and_what_was_blocked() -> None:
    view = PageView(
        url="http://localhost:8080/a",
        title="A  page\nwith lines",
        snapshot='- button "Go" [ref=e2]',
        tabs=2,
        current_tab=1,
        refused=(GuardRefusal("127.0.0.1", 9464, "127.0.0.1 is loopback"),),
    )
    text = render_view(view, done="Clicked e2.", max_chars=1000)
    assert text.splitlines() == [
        "Clicked e2.",
        "Page: http://localhost:8080/a",
        "Title: A page with lines",
        "Tab 1 of 2 open (tabs lists them).",
        "Blocked request to 127.0.0.1:9464: 127.0.0.1 is loopback",
        "Snapshot:",
        '- button "Go" [ref=e2]',
    ]
    assert render_tabs([]) == "No tab is open."
    assert render_tabs([Tab(0, "http://x/", "", current=True)]) == "* 0: (no title) - http://x/"


def test_the_tools_schemas_carry_no_titles() -> None:
    settings = BrowserSettings(enabled=True, allow_evaluate=True)
    workload = BrowserWorkload(settings, profile_dir=Path("/nonexistent"), log=logging.getLogger())
    for spec in BrowserTools(settings, workload=workload).tools():
        text = json.dumps(spec.input_schema)
        assert '"title"' not in text, spec.name
        assert spec.input_schema["type"] == "object"
