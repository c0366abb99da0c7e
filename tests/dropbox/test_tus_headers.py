"""The dropbox's header parsers, fuzzed: whatever a client sends, each answers a value or its
own refusal (never another exception), and what they write into a header stays one header."""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autosred.dropbox.routes.headers import (
    BadHeader,
    ByteRange,
    Unsatisfiable,
    UnsupportedAlgorithm,
    attachment,
    byte_range,
    checksum,
    location_host,
    metadata_header,
    number,
    single,
)
from autosred.dropbox.storage import BadMetadata, parse_metadata

HEADER_SAFE = re.compile(r"[\x20-\x7e]*")


class Multi:
    """A header multimap (what aiohttp's CIMultiDictProxy offers the parsers)."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = pairs

    def getall(self, key: str, default: list[str]) -> list[str]:
        found = [value for name, value in self.pairs if name.lower() == key.lower()]
        return found or default


@pytest.mark.parametrize(
    "text", ["-1", "1e3", "0x10", "1" * 30, "1" * 19, "+5", " 5", "5 ", "", "5.0", "\u0663", "٣"]
)
def test_numbers_refused(text: str) -> None:
    with pytest.raises(BadHeader):
        number("Upload-Length", text)


@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_numbers_read_back(value: int) -> None:
    assert number("Upload-Offset", str(value)) == value


@given(st.text(max_size=40))
def test_numbers_are_digits_or_refused(text: str) -> None:
    try:
        value = number("Upload-Offset", text)
    except BadHeader:
        assert not (text.isascii() and text.isdigit() and 0 < len(text) <= 18)
        return
    assert str(value).zfill(len(text)) == text and value >= 0


def test_a_header_given_twice_is_refused() -> None:
    assert single(Multi(("Upload-Offset", "5")), "upload-offset") == "5"
    assert single(Multi(), "Upload-Offset") is None
    with pytest.raises(BadHeader, match="more than once"):
        single(Multi(("Upload-Offset", "5"), ("upload-offset", "5")), "Upload-Offset")


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksums_of_both_algorithms(algorithm: str) -> None:
    digest = hashlib.new(algorithm, b"chunk").digest()
    parsed = checksum(f"{algorithm} {base64.b64encode(digest).decode()}")
    assert (parsed.algorithm, parsed.digest) == (algorithm, digest)


def test_checksum_refusals() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        checksum("md5 kAFQmDzST7DWlj99KOF/cg==")
    sha1 = base64.b64encode(hashlib.sha1(b"x").digest()).decode()
    for bad in (
        "sha1",
        f"sha1  {sha1}",
        f"SHA1 {sha1}",
        "sha1 ***",
        f"sha256 {sha1}",  # a sha1-sized digest named sha256
        f"sha1 {sha1[:-1]}",
    ):
        with pytest.raises(BadHeader):
            checksum(bad)


@given(st.text(max_size=80))
def test_checksum_answers_or_refuses(text: str) -> None:
    try:
        parsed = checksum(text)
    except BadHeader:
        return
    assert parsed.algorithm in ("sha1", "sha256")
    assert len(parsed.digest) == hashlib.new(parsed.algorithm).digest_size


@given(st.text(max_size=60), st.integers(min_value=0, max_value=10_000))
def test_ranges_are_inside_the_file_or_refused(text: str, size: int) -> None:
    try:
        span = byte_range(text, size)
    except Unsatisfiable:
        return
    if span is not None:
        assert 0 <= span.start < span.end <= size
        assert span.size == size


@given(
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=1, max_value=300),
)
def test_single_ranges(first: int, last: int, size: int) -> None:
    text = f"bytes={first}-{last}"
    if last < first:
        assert byte_range(text, size) is None
    elif first >= size:
        with pytest.raises(Unsatisfiable):
            byte_range(text, size)
    else:
        assert byte_range(text, size) == ByteRange(first, min(last + 1, size), size)


def test_many_ranges_and_other_units_answer_the_whole_file() -> None:
    for text in ("bytes=0-1,2-3", "bytes=0-1, 0-1", "items=0-1", "bytes=", "bytes=-", "0-1"):
        assert byte_range(text, 100) is None
    assert byte_range("bytes=-10", 100) == ByteRange(90, 100, 100)
    assert byte_range("bytes=-1000", 100) == ByteRange(0, 100, 100)
    with pytest.raises(Unsatisfiable):
        byte_range("bytes=-0", 100)


@given(st.one_of(st.none(), st.text(max_size=300)))
def test_a_disposition_is_one_safe_header(name: str | None) -> None:
    value = attachment(name, "fallback-id")
    assert HEADER_SAFE.fullmatch(value), value
    match = re.fullmatch(r'attachment; filename="([^"\\%]*)"; filename\*=UTF-8\'\'(\S+)', value)
    assert match is not None, value
    # filename* carries the whole name (NFC), whatever bytes it holds.
    expected = unicodedata.normalize("NFC", name or "fallback-id")
    assert unquote(match.group(2), errors="strict") == expected


@given(st.text(max_size=100))
def test_a_location_host_is_a_plain_authority(host: str) -> None:
    chosen = location_host(host, "127.0.0.1:8443")
    assert chosen in (host, "127.0.0.1:8443")
    assert re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", chosen)


def test_location_hosts() -> None:
    assert location_host("box.example:8443", "x") == "box.example:8443"
    assert location_host("[::1]:8443", "x") == "[::1]:8443"
    for bad in ("evil.example/path", "a@b", "x\r\nSet-Cookie: y", "", "a b", None):
        assert location_host(bad, "fallback:1") == "fallback:1"


@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True), st.binary(max_size=50), max_size=5
    )
)
def test_metadata_round_trips(pairs: dict[str, bytes]) -> None:
    written = metadata_header(pairs)
    assert HEADER_SAFE.fullmatch(written)
    assert parse_metadata(written) == pairs


@given(st.text(max_size=200))
def test_metadata_parses_or_refuses(text: str) -> None:
    try:
        parse_metadata(text)
    except BadMetadata:
        pass
