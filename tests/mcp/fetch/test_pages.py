"""The fetch tool's pages, pure: slices that join up to the whole text, and the note past
the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.mcp.fetch.pages import page


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=500), st.integers(1, 80))
def test_pages_cover_the_text_once(text: str, length: int) -> None:
    pieces = []
    start = 0
    while True:
        result = page("u", text, start_index=start, max_length=length)
        assert not result.past_end
        content = result.text.split("\n\n", 1)[1]
        if f"start_index={start + length} to read on.]" in content and start + length < len(text):
            content = content.rsplit("\n\n[Characters ", 1)[0]
            pieces.append(content)
            start += length
        else:
            pieces.append(content)
            break
    assert "".join(pieces) == text
    past = page("u", text, start_index=len(text), max_length=length)
    assert past.past_end and f"{len(text)} characters" in past.text
