"""Screencast frames assembled into an animated PNG, read back by a decoder written from
the APNG specification (tests/mcp/browser/support.py): frame count, order, delays, every
frame's data intact; frames of another size or that are no PNG left out; any list of frames
(hypothesis) gives a file the decoder reads."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.web.browser.apng import LAST_FRAME_MS, Frame, NotPng, assemble, chunks
from tests.mcp.browser.support import decode_apng, decode_png


def png(width: int, height: int, shade: int, *, split: int = 1) -> bytes:
    """An RGB PNG of one colour, its image data cut into ``split`` IDAT chunks."""
    rows = b"".join(b"\x00" + bytes((shade, 255 - shade, 7)) * width for _ in range(height))
    compressed = zlib.compress(rows)
    step = max(1, len(compressed) // split)
    parts = [compressed[i : i + step] for i in range(0, len(compressed), step)]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"sRGB", b"\x00")
        + b"".join(chunk(b"IDAT", part) for part in parts)
        + chunk(b"IEND", b"")
    )


def test_frames_keep_their_order_and_time() -> None:
    frames = [
        Frame(png(4, 3, 10, split=2), 100.0),
        Frame(png(4, 3, 90), 100.25),
        Frame(png(5, 3, 50), 100.3),  # another size: left out
        Frame(b"not a png", 100.4),  # left out
        Frame(png(4, 3, 200, split=3), 101.0),
    ]
    data, count = assemble(frames)
    assert count == 3
    assert decode_apng(data) == (3, [250, 750, LAST_FRAME_MS])
    assert decode_png(data) == (4, 3), "a viewer without APNG shows the first frame"


def test_no_frames_is_an_error_and_a_broken_png_is_named() -> None:
    with pytest.raises(ValueError, match="no frames"):
        assemble([])
    with pytest.raises(NotPng, match="bad CRC"):
        chunks(png(2, 2, 1)[:-1] + b"\x00")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(0, 255), st.floats(0, 5)),
        min_size=1,
        max_size=8,
    )
)
def test_any_frames_make_a_file_a_decoder_reads(specs: list[tuple[int, int, int, float]]) -> None:
    frames = [
        Frame(png(width, height, shade, split=1 + shade % 3), moment)
        for width, height, shade, moment in sorted(specs, key=lambda spec: spec[3])
    ]
    data, count = assemble(frames)
    same_size = [spec for spec in specs if spec[:2] == sorted(specs, key=lambda s: s[3])[0][:2]]
    assert count == len(same_size)
    declared, delays = decode_apng(data)
    assert declared == count and all(1 <= delay <= 65_535 for delay in delays)
