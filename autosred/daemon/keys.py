"""The daemon's secret for signing thinking blocks, kept in the state directory.

The key must outlive a restart: Claude Code stores the signed thinking blocks of a session and
sends them back on every turn; under a new key they no longer verify, and their reasoning is
no longer given back to the model (safe, but a resumed session loses it). The file holds 32
random bytes as hex and is created 0600, readable by the daemon's user only.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

KEY_FILE = "thinking-signature.key"
_KEY_BYTES = 32


def _parse(text: str) -> bytes | None:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        return None
    return key if len(key) >= 16 else None


def _create(path: Path) -> bytes:
    """Write a new key file atomically (a crash never leaves half a key behind)."""
    key = secrets.token_bytes(_KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return key


def thinking_key(state_dir: Path, *, log: logging.Logger) -> bytes:
    """The persistent key (created on first start); a key for this run only, with a warning,
    when the state directory cannot hold one."""
    path = state_dir / KEY_FILE
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError) as exc:
        log.warning(
            "daemon.key_unreadable",
            extra={"fields": {"path": str(path), "error": str(exc), "using": "ephemeral key"}},
        )
        return secrets.token_bytes(_KEY_BYTES)
    if text is not None:
        key = _parse(text)
        if key is not None:
            # Its mode was checked at start (statemodes): a key others can read is refused.
            return key
        log.warning(
            "daemon.key_invalid", extra={"fields": {"path": str(path), "action": "replaced"}}
        )
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = _create(path)
    except OSError as exc:
        log.warning(
            "daemon.key_unwritable",
            extra={"fields": {"path": str(path), "error": str(exc), "using": "ephemeral key"}},
        )
        return secrets.token_bytes(_KEY_BYTES)
    log.info("daemon.key_created", extra={"fields": {"path": str(path)}})
    return key
