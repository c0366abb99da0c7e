"""One page of a fetched text: from ``start_index``, at most ``max_length`` characters, and a
note telling the model where the next call starts. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    text: str
    past_end: bool


def page(url: str, text: str, *, start_index: int, max_length: int) -> Page:
    """The slice the model asked for, headed by the URL it came from (after redirects)."""
    total = len(text)
    if total == 0:
        return Page(f"{url} has no readable text. Try raw=true to see the body as sent.", True)
    if start_index >= total:
        return Page(
            f"start_index {start_index} is past the end of {url}: its text has {total} "
            f"characters, so the whole page has been read (start at 0 to read it again).",
            True,
        )
    end = min(total, start_index + max_length)
    body = f"Contents of {url}:\n\n{text[start_index:end]}"
    if end < total:
        body += (
            f"\n\n[Characters {start_index}-{end} of {total}. More remains: call fetch again "
            f"with start_index={end} to read on.]"
        )
    return Page(body, False)
