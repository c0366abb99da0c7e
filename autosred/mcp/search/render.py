"""Search hits as the text the model reads: a numbered Markdown list of title, URL, snippet.

Each item is ``N. [title](<url>)`` with the snippet on the next line, indented into the item.
Engines hand back titles and snippets with brackets, newlines and markup of their own, and
URLs with parentheses or spaces; those are escaped or collapsed here so that one result can
never spill into the next or break its link.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from autosred.web.search.backend import SearchHit

_TITLE_SPECIAL = re.compile(r"([\\\[\]*_`<>])")


def _breaks_a_line(char: str) -> bool:
    # str.splitlines breaks on more than \n (\x1c-\x1e, \x85, U+2028...); all of those are
    # isspace(). Other control characters have no business in one line either.
    return char.isspace() or unicodedata.category(char) == "Cc"


def one_line(text: str) -> str:
    return " ".join("".join(" " if _breaks_a_line(c) else c for c in text).split())


def _title(hit: SearchHit) -> str:
    return _TITLE_SPECIAL.sub(r"\\\1", one_line(hit.title) or _url(hit.url))


def _url(url: str) -> str:
    """Inside ``<...>`` a link destination may hold anything but line breaks and unescaped
    ``<`` or ``>``: those, and any space or control character, are percent-encoded."""
    return "".join(
        "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        if char in "<>" or _breaks_a_line(char)
        else char
        for char in url.strip()
    )


def render_hits(query: str, hits: Sequence[SearchHit], *, source: str) -> str:
    lines = [f"Search results for {one_line(query)!r} ({len(hits)}, via {source}):", ""]
    for number, hit in enumerate(hits, start=1):
        lines.append(f"{number}. [{_title(hit)}](<{_url(hit.url)}>)")
        if snippet := one_line(hit.snippet):
            lines.append(f"   {snippet}")
    return "\n".join(lines)
