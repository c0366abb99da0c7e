"""The dropbox's request headers, parsed strictly (pure functions, fuzzed by the tests).

A header the dropbox reads is given at most once (two `Upload-Offset` values are not "the
first one"), and its numbers are plain decimal digits: `-1`, `+5`, `1e3`, `0x10`, ` 7`, `٣`
(a non-ASCII digit) and anything past 18 digits are refused as malformed (400), never read
as something else. 18 digits is far beyond any disk; a 19-digit length is not "too large"
but not a number the dropbox reads at all.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,expiration,checksum,termination"
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
OFFSET_STREAM = "application/offset+octet-stream"

_NUMBER = re.compile(r"[0-9]{1,18}", re.ASCII)
_ALGORITHM = re.compile(r"[a-z0-9-]{1,32}", re.ASCII)
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?",
    re.ASCII,
)
_DIGEST_SIZES = {name: hashlib.new(name).digest_size for name in CHECKSUM_ALGORITHMS}


class Headers(Protocol):
    """What is read of a request's headers (aiohttp's CIMultiDictProxy fits)."""

    def getall(self, key: str, default: list[str]) -> list[str]: ...


class BadHeader(ValueError):
    """A header the dropbox refuses (400); the message names it."""


class UnsupportedAlgorithm(BadHeader):
    """An `Upload-Checksum` algorithm the dropbox does not verify (tus: 400)."""


@dataclass(frozen=True, slots=True)
class ChecksumHeader:
    algorithm: str
    digest: bytes


def single(headers: Headers, name: str) -> str | None:
    """The one value of header `name`, None when absent; BadHeader when given twice."""
    values = headers.getall(name, [])
    if len(values) > 1:
        raise BadHeader(f"{name} is given more than once")
    return values[0] if values else None


def number(name: str, text: str) -> int:
    """A non-negative decimal number of at most 18 ASCII digits, or BadHeader."""
    if _NUMBER.fullmatch(text) is None:
        raise BadHeader(f"{name} is not a non-negative decimal number of at most 18 digits")
    return int(text)


def number_header(headers: Headers, name: str) -> int | None:
    text = single(headers, name)
    return None if text is None else number(name, text)


def checksum(text: str) -> ChecksumHeader:
    """tus `Upload-Checksum: <algorithm> <base64 digest>`."""
    algorithm, space, encoded = text.partition(" ")
    if not space or _ALGORITHM.fullmatch(algorithm) is None:
        raise BadHeader("Upload-Checksum is not '<algorithm> <base64 digest>'")
    if algorithm not in _DIGEST_SIZES:
        raise UnsupportedAlgorithm(
            f"Upload-Checksum algorithm {algorithm!r} is not supported "
            f"(Tus-Checksum-Algorithm: {','.join(CHECKSUM_ALGORITHMS)})"
        )
    try:
        digest = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise BadHeader("the Upload-Checksum digest is not base64") from exc
    if len(digest) != _DIGEST_SIZES[algorithm]:
        raise BadHeader(f"the Upload-Checksum digest is not a {algorithm} digest")
    return ChecksumHeader(algorithm, digest)


def media_type(text: str | None) -> str | None:
    """The media type of a Content-Type value, lower-cased, without parameters."""
    if text is None:
        return None
    return text.split(";", 1)[0].strip().lower()


def http_date(timestamp: float) -> str:
    """An IMF-fixdate (RFC 9110), what tus `Upload-Expires` carries."""
    return email.utils.format_datetime(datetime.fromtimestamp(timestamp, UTC), usegmt=True)


def metadata_header(metadata: Mapping[str, bytes]) -> str:
    """`Upload-Metadata` as tus writes it: `key base64,key`. The keys were checked printable
    ASCII without spaces or commas when the upload was created."""
    return ",".join(
        f"{key} {base64.b64encode(value).decode('ascii')}" if value else key
        for key, value in metadata.items()
    )


def location_host(host: str | None, fallback: str) -> str:
    """The authority for an absolute `Location`: the request's Host when it is a plain
    host[:port] (nothing else reaches a header the dropbox writes), else `fallback`."""
    if host is not None and _HOST.fullmatch(host) is not None:
        return host
    return fallback


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A satisfiable single range: bytes [start, end) of a file of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end - 1}/{self.size}"


class Unsatisfiable(ValueError):
    """A well-formed single range that selects no byte of the file (416)."""


def byte_range(text: str | None, size: int) -> ByteRange | None:
    """The one range a `Range` header asks for, or None to answer the whole file.

    RFC 9110 lets a server ignore Range; the dropbox ignores a malformed one and any with more
    than one range (overlapping or many small ranges are a known way to make a server do much
    work for little: Apache CVE-2011-3192), answering the whole file 200. A well-formed single
    range past the end raises Unsatisfiable (416).
    """
    if text is None:
        return None
    unit, equals, spec = text.partition("=")
    if not equals or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or (not first and not last):
        return None
    if not first:  # a suffix: the last N bytes
        if _NUMBER.fullmatch(last) is None:
            return None
        count = int(last)
        if count == 0 or size == 0:
            raise Unsatisfiable(text)
        return ByteRange(max(size - count, 0), size, size)
    if _NUMBER.fullmatch(first) is None or (last and _NUMBER.fullmatch(last) is None):
        return None
    start = int(first)
    if last and int(last) < start:
        return None  # last before first: invalid, so ignored
    if start >= size:
        raise Unsatisfiable(text)
    end = int(last) + 1 if last else size
    return ByteRange(start, min(end, size), size)


def attachment(name: str | None, fallback: str) -> str:
    """`Content-Disposition: attachment` with the name as RFC 6266 `filename*` (UTF-8,
    percent-encoded: no byte of the name can end the header or start another) and a plain
    ASCII `filename` for old clients (anything else replaced by `_`)."""
    text = unicodedata.normalize("NFC", name or fallback)
    plain = "".join(
        char if " " <= char <= "~" and char not in '"\\%' else "_" for char in text
    ).strip()
    encoded = quote(text, safe="")
    return f"attachment; filename=\"{plain or '_'}\"; filename*=UTF-8''{encoded}"
