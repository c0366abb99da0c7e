"""What a fetched body is (HTML, JSON, text, or refused) and its text: the charset from the
headers, else a byte-order mark or the page's ``<meta>``, else UTF-8 when it decodes,
else windows-1252 (what browsers assume). Pure."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from enum import Enum
from html import unescape

from autosred.web.fetch.failure import FetchFailure, FetchFailureKind


class Kind(Enum):
    HTML = "html"
    JSON = "json"
    TEXT = "text"


class Unsupported(FetchFailure, ValueError):
    """A type that is not returned; the message names it, for the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind=FetchFailureKind.UNSUPPORTED_CONTENT_TYPE)


@dataclass(frozen=True)
class MediaType:
    essence: str
    """``type/subtype``, lower case; empty when the server sent none."""
    charset: str | None

    @classmethod
    def parse(cls, header: str | None) -> MediaType:
        if not header:
            return cls("", None)
        essence, *params = header.split(";")
        charset = None
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip("\"'") or None
        return cls(essence.strip().lower(), charset)


def kind_of(media: MediaType, body: bytes) -> Kind:
    """The body's kind, or :class:`Unsupported` naming the type. JSON and any text other
    than HTML come back as they are (source, Markdown and CSV are what an agent asks for)."""
    essence = media.essence
    if essence in ("text/html", "application/xhtml+xml"):
        return Kind.HTML
    if essence in ("application/json", "text/json") or essence.endswith("+json"):
        return Kind.JSON
    if essence.startswith("text/"):
        return Kind.TEXT
    if not essence:
        return _sniff(body)
    raise Unsupported(
        f"The server sent {essence}, which the fetch tool does not read (it returns HTML "
        "as Markdown, JSON and text); look for an HTML or text version of this resource."
    )


def _sniff(body: bytes) -> Kind:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return Kind.HTML
    if b"\x00" in body[:4096]:
        raise Unsupported(
            "The server sent no content type and the body is binary; the fetch tool reads "
            "HTML, JSON and text only."
        )
    return Kind.TEXT


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
# WHATWG's Encoding standard: these labels mean windows-1252, whose 0x80-0x9f are letters
# and punctuation where latin-1 has control codes.
_AS_WINDOWS_1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"}


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    name = label.strip().lower()
    if name in _AS_WINDOWS_1252:
        return "cp1252"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(body: bytes, media: MediaType, kind: Kind) -> str:
    """The body as text, by the first charset that applies."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace")
    charset = _codec(media.charset)
    if charset is None and kind is Kind.HTML:
        found = _META_CHARSET.search(body[:4096])
        charset = _codec(found.group(1).decode("ascii")) if found else None
        if charset is not None and charset.startswith("utf-16"):
            charset = "utf-8"  # a <meta> readable as ASCII means the bytes are not UTF-16
    if charset is None and kind is Kind.JSON:
        charset = "utf-8"
    if charset is None:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            charset = "cp1252"
    return body.decode(charset, errors="replace")


_TITLE_OPEN = re.compile(r"<title\b", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title\s*>", re.IGNORECASE)
_TITLE_SCAN = 64 * 1024
"""The ``<title>`` belongs in ``<head>``, near the top; the rest of the page is not read."""
_TITLE_MAX = 300


def title_of(html: str) -> str | None:
    """The text of the page's first ``<title>`` (entities decoded, white space collapsed, at
    most 300 characters), or None when it has none. Read with two linear scans of the top of
    the page rather than a parser (this runs on the event loop), and only the first opening
    tag is tried, so a page full of them costs no more than one."""
    top = html[:_TITLE_SCAN]
    opened = _TITLE_OPEN.search(top)
    if opened is None:
        return None
    start = top.find(">", opened.end()) + 1
    closed = _TITLE_CLOSE.search(top, start) if start else None
    if closed is None:
        return None
    text = " ".join(unescape(top[start : closed.start()]).split())
    return text[:_TITLE_MAX] or None
