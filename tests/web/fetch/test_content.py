"""Content types and charsets, pure: HTML, JSON and text kept, other types refused with the
type named; the charset from the header, else a BOM or <meta>, else UTF-8, else
windows-1252."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.fetch.content import Kind, MediaType, Unsupported, decode, kind_of


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("text/html; charset=utf-8", Kind.HTML),
        ("TEXT/HTML", Kind.HTML),
        ("application/xhtml+xml", Kind.HTML),
        ("application/json", Kind.JSON),
        ("application/vnd.api+json; charset=utf-8", Kind.JSON),
        ("text/plain", Kind.TEXT),
        ("text/markdown", Kind.TEXT),
        ("text/x-python", Kind.TEXT),
    ],
)
def test_kinds(header: str, kind: Kind) -> None:
    assert kind_of(MediaType.parse(header), b"x") is kind


@pytest.mark.parametrize(
    "header", ["image/png", "application/pdf", "application/octet-stream", "video/mp4"]
)
def test_other_types_are_refused_by_name(header: str) -> None:
    with pytest.raises(Unsupported, match=header):
        kind_of(MediaType.parse(header), b"x")


def test_no_type_is_sniffed() -> None:
    assert kind_of(MediaType.parse(None), b"  <!DOCTYPE html><html>") is Kind.HTML
    assert kind_of(MediaType.parse(""), b"plain words") is Kind.TEXT
    with pytest.raises(Unsupported, match="binary"):
        kind_of(MediaType.parse(None), b"\x00\x01\x02")


def test_charset_precedence() -> None:
    text = "naïve café — “quoted”"
    html_meta = f'<meta charset="windows-1252"><p>{text}</p>'.encode("cp1252")
    assert text in decode(html_meta, MediaType.parse("text/html"), Kind.HTML)
    # The header wins over the meta.
    utf8 = f'<meta charset="koi8-r"><p>{text}</p>'.encode()
    assert text in decode(utf8, MediaType.parse("text/html; charset=UTF-8"), Kind.HTML)
    # A BOM wins over both.
    bom = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    assert decode(bom, MediaType.parse("text/plain; charset=iso-8859-1"), Kind.TEXT) == text
    # latin-1 means windows-1252, as browsers read it.
    assert (
        decode(b"\x93q\x94", MediaType.parse("text/plain; charset=ISO-8859-1"), Kind.TEXT) == "“q”"
    )
    # No charset: UTF-8 when it decodes, else windows-1252.
    assert decode(text.encode(), MediaType.parse("text/plain"), Kind.TEXT) == text
    assert decode(text.encode("cp1252"), MediaType.parse("text/plain"), Kind.TEXT) == text
    # An unknown charset falls back rather than failing.
    assert decode(b"abc", MediaType.parse('text/plain; charset="x-nonsense"'), Kind.TEXT) == "abc"


@settings(max_examples=300)
@given(st.binary(max_size=300), st.text(max_size=60), st.sampled_from(list(Kind)))
def test_any_body_and_header_decode(data: bytes, header: str, kind: Kind) -> None:
    assert isinstance(decode(data, MediaType.parse(header), kind), str)
