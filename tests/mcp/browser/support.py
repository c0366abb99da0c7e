"""What the browser tests share: reading tool results, decoding a PNG for real, and the
browser processes under a daemon."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

from mcp.types import ImageContent, TextContent

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BYTES_PER_PIXEL = {2: 3, 6: 4, 0: 1, 4: 2}
"""PNG colour type -> bytes per pixel at bit depth 8 (RGB, RGBA, grey, grey+alpha)."""


def text_of(result: Any) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent), result.content
    return first.text


def image_of(result: Any) -> tuple[bytes, str]:
    images = [item for item in result.content if isinstance(item, ImageContent)]
    assert len(images) == 1, result.content
    return base64.b64decode(images[0].data), images[0].mime_type


def decode_png(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking every chunk's CRC and inflating the image
    data to exactly the size its header promises (a real decode, short of unfiltering)."""
    assert data[:8] == PNG_SIGNATURE, data[:8]
    offset = 8
    width = height = 0
    bpp = 0
    compressed = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunk = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + chunk) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8, depth
            bpp = BYTES_PER_PIXEL[colour]
        elif kind == b"IDAT":
            compressed += chunk
        elif kind == b"IEND":
            break
        offset += 12 + length
    raw = zlib.decompress(compressed)
    assert len(raw) == height * (1 + width * bpp), (len(raw), width, height)
    return width, height


def descendants(pid: int) -> dict[int, str]:
    """Every process under ``pid`` (children, theirs, …): pid -> its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                try:
                    cmdline = (Path(f"/proc/{child}/cmdline").read_bytes()).replace(b"\0", b" ")
                except OSError:
                    continue
                found[child] = cmdline.decode(errors="replace")
                frontier.append(child)
    return found


def chromium_processes(pid: int) -> dict[int, str]:
    return {
        child: cmd
        for child, cmd in descendants(pid).items()
        if "chromium" in cmd.split(" ", 1)[0] or "/chrome" in cmd.split(" ", 1)[0]
    }


def decode_apng(data: bytes) -> tuple[int, list[int]]:
    """An animated PNG read as a decoder would: the frame count acTL declares, and each
    frame's delay in ms, after checking every CRC, the sequence numbers, and that each
    frame's image data inflates to exactly its rows."""
    assert data[:8] == PNG_SIGNATURE
    offset = 8
    declared = -1
    width = height = bpp = 0
    delays: list[int] = []
    frame_data: list[bytes] = []
    expected_sequence = 0
    frames_inflated = 0

    def finish_frame() -> None:
        nonlocal frames_inflated
        if frame_data:
            raw = zlib.decompress(b"".join(frame_data))
            assert len(raw) == height * (1 + width * bpp), "a frame's rows do not add up"
            frames_inflated += 1
            frame_data.clear()

    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunk = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + chunk) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8
            bpp = BYTES_PER_PIXEL[colour]
        elif kind == b"acTL":
            declared = struct.unpack(">I", chunk[:4])[0]
        elif kind == b"fcTL":
            finish_frame()
            sequence, frame_width, frame_height = struct.unpack(">III", chunk[:12])
            assert sequence == expected_sequence
            expected_sequence += 1
            assert (frame_width, frame_height) == (width, height)
            numerator, denominator = struct.unpack(">HH", chunk[20:24])
            delays.append(round(numerator * 1000 / (denominator or 100)))
        elif kind == b"IDAT":
            frame_data.append(chunk)
        elif kind == b"fdAT":
            assert struct.unpack(">I", chunk[:4])[0] == expected_sequence
            expected_sequence += 1
            frame_data.append(chunk[4:])
        elif kind == b"IEND":
            finish_frame()
            break
        offset += 12 + length
    assert declared == len(delays) == frames_inflated, (declared, len(delays), frames_inflated)
    return declared, delays
