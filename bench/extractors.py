"""``python -m bench.extractors``: the fetch tool's HTML-to-Markdown choice, measured.

trafilatura, as the tool runs it (`autosred.web.fetch.extract`), against readability-lxml's
main-content pick converted by markdownify, on the real pages of ``tests/web/fetch/pages``:
time per page (median of 5 in this process), how much of the page's text survives (words
out / words in the page's ``<body>``), and the structure kept (ATX headings, fenced code
blocks, links). The two others are not dependencies of autosred: ``pip install
readability-lxml markdownify`` first (the run says so when they are missing).
"""

from __future__ import annotations

import importlib
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lxml.html

from autosred.web.fetch.extract import html_to_markdown

PAGES = Path(__file__).resolve().parent.parent / "tests" / "web" / "fetch" / "pages"
RUNS = 5


def _readability() -> Callable[[str, str], str]:
    try:
        readability: Any = importlib.import_module("readability")
        markdownify: Any = importlib.import_module("markdownify")
    except ImportError as exc:
        raise SystemExit(
            f"{exc}: run `pip install readability-lxml markdownify` in this environment first"
        ) from None

    def convert(html: str, url: str) -> str:
        summary = readability.Document(html, url=url).summary(html_partial=True)
        return str(markdownify.markdownify(summary, heading_style="ATX")).strip()

    return convert


def _words(text: str) -> int:
    """Words of the text, link targets left out."""
    return len(re.findall(r"\w+", re.sub(r"\]\([^)]*\)", "]", text)))


def main() -> int:
    candidates = {
        "trafilatura (the tool's)": html_to_markdown,
        "readability + markdownify": _readability(),
    }
    print("| page | extractor | ms (median) | words kept | headings | code blocks | links |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(PAGES.glob("*.html")):
        html = path.read_bytes().decode("utf-8")
        url = f"https://docs.example/{path.name}"
        body = lxml.html.document_fromstring(path.read_bytes()).find("body")
        page_words = _words(body.text_content()) if body is not None else 0
        for name, convert in candidates.items():
            out = convert(html, url)
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                convert(html, url)
                times.append((time.perf_counter() - started) * 1000)
            headings = sum(1 for line in out.splitlines() if re.match(r"#{1,6} ", line))
            links = len(re.findall(r"\]\(", out))
            fences = out.count("```") // 2
            print(
                f"| {path.name} | {name} | {statistics.median(times):.0f} | "
                f"{_words(out) / max(page_words, 1):.0%} | {headings} | {fences} | {links} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
