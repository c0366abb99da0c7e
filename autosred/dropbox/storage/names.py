"""What a client says about an upload: its file name and tus `Upload-Metadata`.

A file name is metadata only, never a path: the store files everything under random ids, so
a name like `../../etc/passwd` is harmless. It is still refused when it could mislead whoever
later saves the file under it (path separators, `.`/`..`) or corrupt a header or a log line
(control characters, NUL, CR/LF, line separators, bidi overrides).
"""

from __future__ import annotations

import binascii
import unicodedata

MAX_NAME_BYTES = 255
MAX_METADATA_CHARS = 4096

# Unicode categories refused in a name: controls (NUL, CR, LF, DEL, C1), format characters
# (bidi overrides that reverse how a name reads), line/paragraph separators, surrogates,
# private use.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})
_SEPARATORS = frozenset({"/", "\\"})


class BadName(ValueError):
    """A file name the dropbox refuses; the message says why."""


class BadMetadata(ValueError):
    """An `Upload-Metadata` header that is not tus's `key base64,…` form."""


def check_name(raw: str) -> str:
    """The NFC form of a file name, or BadName."""
    name = unicodedata.normalize("NFC", raw)
    if not name:
        raise BadName("the file name is empty")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise BadName(f"the file name is longer than {MAX_NAME_BYTES} bytes")
    for char in name:
        if char in _SEPARATORS:
            raise BadName("the file name holds a path separator")
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise BadName(f"the file name holds the control character U+{ord(char):04X}")
    if name in {".", ".."} or name.strip() != name:
        raise BadName("the file name is '.', '..' or has leading or trailing spaces")
    return name


def parse_metadata(header: str) -> dict[str, bytes]:
    """tus 1.0.0 `Upload-Metadata`: comma-separated `key` or `key base64value` pairs.

    Keys are ASCII without spaces or commas and appear once; values are strict base64.
    """
    if len(header) > MAX_METADATA_CHARS:
        raise BadMetadata(f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters")
    pairs: dict[str, bytes] = {}
    if not header.strip():
        return pairs
    for item in header.split(","):
        parts = item.strip().split(" ")
        if len(parts) > 2 or not parts[0]:
            raise BadMetadata(f"bad Upload-Metadata pair {item.strip()[:40]!r}")
        key = parts[0]
        if not key.isascii() or not key.isprintable():
            raise BadMetadata("an Upload-Metadata key is not printable ASCII")
        if key in pairs:
            raise BadMetadata(f"Upload-Metadata names {key!r} twice")
        try:
            pairs[key] = binascii.a2b_base64(parts[1], strict_mode=True) if len(parts) == 2 else b""
        except (binascii.Error, ValueError) as exc:
            raise BadMetadata(f"the Upload-Metadata value of {key!r} is not base64") from exc
    return pairs


def name_of(metadata: dict[str, bytes]) -> str | None:
    """The checked name from a `filename` (or `name`) metadata value, if one was given."""
    raw = metadata.get("filename", metadata.get("name"))
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadName("the file name is not UTF-8") from exc
    return check_name(text)
