"""Screencast frames as one animated PNG (APNG), without re-encoding. Pure.

Why APNG: every current browser (and most image viewers) plays it as it is, with no codec
or player to install, and it is built from the PNG frames Chromium's screencast already
sends by moving their compressed image data into APNG's frame chunks: no image library, no
encoder, no quality lost. (A video would need an encoder the daemon does not have; a GIF,
re-quantising every frame to 256 colours.)

Each frame keeps its own time: a frame is shown until the next one's timestamp (Chromium
sends a frame only when the page repainted), the last for ``LAST_FRAME_MS``. Frames whose
header differs from the first's (another size after a resize, another colour type) are left
out, since an APNG has one canvas.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
LAST_FRAME_MS = 1000
MAX_DELAY_MS = 65_535
"""An fcTL delay is a 16-bit numerator (over a denominator of 1000: milliseconds)."""


class NotPng(ValueError):
    """A frame that is not a PNG."""


@dataclass(frozen=True)
class Frame:
    png: bytes
    timestamp: float
    """Seconds (any origin: only differences are used)."""


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks as (type, data), CRCs checked."""
    if not png.startswith(SIGNATURE):
        raise NotPng("no PNG signature")
    found = []
    offset = len(SIGNATURE)
    while offset + 12 <= len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        if len(data) != length or offset + 12 + length > len(png):
            raise NotPng("a chunk runs past the end")
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        if zlib.crc32(kind + data) != crc:
            raise NotPng(f"bad CRC in {kind!r}")
        found.append((kind, data))
        offset += 12 + length
        if kind == b"IEND":
            return found
    raise NotPng("no IEND")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def assemble(frames: Sequence[Frame]) -> tuple[bytes, int]:
    """The APNG of ``frames`` (in order), and how many frames it holds."""
    if not frames:
        raise ValueError("no frames")
    first = chunks(frames[0].png)
    header = first[0][1]
    if first[0][0] != b"IHDR":
        raise NotPng("the first chunk is not IHDR")
    width, height = struct.unpack(">II", header[:8])
    kept: list[tuple[Frame, list[bytes]]] = []
    for frame in frames:
        try:
            parts = chunks(frame.png)
        except NotPng:
            continue
        if parts[0] != (b"IHDR", header):
            continue
        kept.append((frame, [data for kind, data in parts if kind == b"IDAT"]))
    ancillary = [
        (kind, data)
        for kind, data in first
        if kind not in (b"IHDR", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT")
    ]
    out = [SIGNATURE, _chunk(b"IHDR", header)]
    out += [_chunk(kind, data) for kind, data in ancillary if kind != b"tEXt"]
    out.append(_chunk(b"acTL", struct.pack(">II", len(kept), 0)))  # 0: loop forever
    sequence = 0
    for index, (frame, image) in enumerate(kept):
        following = kept[index + 1][0].timestamp if index + 1 < len(kept) else None
        delay = LAST_FRAME_MS if following is None else round((following - frame.timestamp) * 1000)
        delay = max(1, min(MAX_DELAY_MS, delay))
        control = struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, delay, 1000, 0, 0)
        out.append(_chunk(b"fcTL", control))
        sequence += 1
        for data in image:
            if index == 0:
                out.append(_chunk(b"IDAT", data))
            else:
                out.append(_chunk(b"fdAT", struct.pack(">I", sequence) + data))
                sequence += 1
    out.append(_chunk(b"IEND", b""))
    return b"".join(out), len(kept)
