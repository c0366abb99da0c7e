"""HTML to Markdown: the page's main text, with headings, code blocks, tables and links.

trafilatura does the work (compared with readability-lxml + markdownify on real pages; see
BENCHMARKS.md, "The MCP fetch tool"). Two things are prepared on the tree first:

- links are made absolute against the page's URL (so the model can fetch them next;
  trafilatura's own ``url`` joins against the site root and loses the page's path);
- a ``<pre>`` without ``<code>`` inside gets one, so that trafilatura keeps it as a fenced
  code block: DocBook's ``<pre class="screen">`` and many hand-written pages lose their
  line breaks and fences otherwise.

Extraction is CPU work of tens to hundreds of milliseconds, so the tool runs
:func:`html_to_markdown` in a worker process (see ``worker.py``), never on the event loop.
Top-level functions of this module are what the worker imports and calls.
"""

from __future__ import annotations

import lxml.etree
import lxml.html
import trafilatura


def html_to_markdown(html: str, url: str) -> str:
    """The main text of ``html`` (fetched from ``url``) as Markdown; "" when it has none."""
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return ""
    tree.make_links_absolute(url, resolve_base_href=True, handle_failures="ignore")
    _code_in_every_pre(tree)
    text = trafilatura.extract(
        tree,
        output_format="markdown",
        include_links=True,
        include_formatting=True,
        include_tables=True,
        include_comments=False,
        include_images=False,
    )
    return (text or "").strip()


def _code_in_every_pre(tree: lxml.html.HtmlElement) -> None:
    for pre in tree.iter("pre"):
        if pre.find(".//code") is not None:
            continue
        code = lxml.html.Element("code")
        code.text, pre.text = pre.text, None
        for child in list(pre):
            code.append(child)
        pre.append(code)


def warm() -> bool:
    """Imported and ready (the pool calls this once so the first fetch pays no import)."""
    return True
