"""File names and tus Upload-Metadata: what is refused, and fuzzed parsers that never crash."""

from __future__ import annotations

import base64
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autosred.dropbox.storage import BadMetadata, BadName, check_name, parse_metadata
from autosred.dropbox.storage.names import MAX_NAME_BYTES, name_of


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a\x00b",
        "evil\r\nSet-Cookie: x=1",
        "line\nbreak",
        "tab\there",
        "\x7f",
        "\x85next-line",
        "rtl\u202etxt.exe",
        "para\u2029graph",
        "../etc/passwd",
        "..\\windows\\system32",
        "/etc/passwd",
        "\\\\server\\share\\x",
        "C:\\autoexec.bat",
        "a/b",
        ".",
        "..",
        " leading",
        "x" * (MAX_NAME_BYTES + 1),
        "é" * (MAX_NAME_BYTES // 2 + 1),
    ],
)
def test_refused_names(name: str) -> None:
    with pytest.raises(BadName):
        check_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "report.pdf",
        "%2e%2e%2fescape",
        "%252e%252e%252f",
        "..hidden",
        "ça va.txt",
        "x" * MAX_NAME_BYTES,
    ],
)
def test_names_kept_as_metadata(name: str) -> None:
    assert check_name(name) == name


def test_names_are_nfc() -> None:
    decomposed = "cafe\u0301.txt"
    assert check_name(decomposed) == "caf\u00e9.txt"


def test_metadata_pairs() -> None:
    header = "filename " + base64.b64encode(b"a.txt").decode() + ",is_confidential,type dGV4dA=="
    assert parse_metadata(header) == {"filename": b"a.txt", "is_confidential": b"", "type": b"text"}
    assert parse_metadata("") == {}


@pytest.mark.parametrize(
    "header",
    [
        "filename not*base64",
        "filename YQ==,filename Yg==",
        "filename YQ== extra",
        ",",
        "key\r\nX-Injected YQ==",
        "k\x00ey YQ==",
        "ключ YQ==",
        "filename YQ",
        "x " + "A" * 5000,
    ],
)
def test_refused_metadata(header: str) -> None:
    with pytest.raises(BadMetadata):
        parse_metadata(header)


def test_name_from_metadata() -> None:
    assert name_of({"filename": "naïve.txt".encode()}) == "naïve.txt"
    assert name_of({}) is None
    with pytest.raises(BadName):
        name_of({"filename": b"\xff\xfe"})
    with pytest.raises(BadName):
        name_of({"filename": b"../x"})


@given(st.text())
def test_check_name_fuzzed(raw: str) -> None:
    try:
        name = check_name(raw)
    except BadName:
        return
    assert name == unicodedata.normalize("NFC", raw)
    assert name and len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert "/" not in name and "\\" not in name and name not in {".", ".."}
    assert all(
        unicodedata.category(char)[0] != "C" or unicodedata.category(char) == "Cn" for char in name
    )


@given(st.text(max_size=300))
def test_parse_metadata_fuzzed(header: str) -> None:
    try:
        pairs = parse_metadata(header)
    except BadMetadata:
        return
    for key in pairs:
        assert key and key.isascii() and " " not in key and "," not in key


@given(
    st.dictionaries(
        st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","),
            min_size=1,
            max_size=20,
        ),
        st.binary(max_size=64),
        max_size=8,
    )
)
def test_parse_metadata_round_trip(pairs: dict[str, bytes]) -> None:
    header = ",".join(
        f"{key} {base64.b64encode(value).decode()}" if value else key
        for key, value in pairs.items()
    )
    assert parse_metadata(header) == pairs
