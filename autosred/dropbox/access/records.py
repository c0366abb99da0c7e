"""What the access state holds: tokens and shares as frozen records, and their JSON form.

The JSON is read strictly: a record of the wrong shape stops the daemon with the file named
(losing tokens or shares silently would lock users out or revive a revoked link).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from autosred.dropbox.storage import Quota

VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DIGEST = re.compile(r"[0-9a-f]{64}")

TokenState = Literal["active", "expired", "revoked"]


class BadRecord(ValueError):
    """A record in the state file has the wrong shape."""


def is_token_name(name: str) -> bool:
    """A token's name: 1-64 of letters, digits, ``.``, ``_``, ``-``, not starting with a
    punctuation mark. It is also the owner of the token's files and shown in listings."""
    return _NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: everything but its secret (which is never kept)."""

    name: str
    created: float
    expires: float | None
    read_only: bool
    quota: Quota
    revoked: bool = False

    def state(self, now: float) -> TokenState:
        if self.revoked:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    info: TokenInfo
    sha256: str

    def to_json(self) -> dict[str, Any]:
        info = self.info
        return {
            "name": info.name,
            "sha256": self.sha256,
            "created": info.created,
            "expires": info.expires,
            "read_only": info.read_only,
            "max_bytes": info.quota.max_bytes,
            "max_files": info.quota.max_files,
            "revoked": info.revoked,
        }

    @classmethod
    def from_json(cls, raw: Any) -> TokenRecord:
        data = _object(raw, "token")
        name = _str(data, "name")
        if not is_token_name(name):
            raise BadRecord(f"token name {name!r} is not a valid name")
        info = TokenInfo(
            name=name,
            created=_number(data, "created"),
            expires=_optional_number(data, "expires"),
            read_only=_bool(data, "read_only"),
            quota=Quota(
                max_bytes=_optional_count(data, "max_bytes"),
                max_files=_optional_count(data, "max_files"),
            ),
            revoked=_bool(data, "revoked"),
        )
        return cls(info=info, sha256=_digest(data))


@dataclass(frozen=True, slots=True)
class ShareInfo:
    """A share link as listed: the file it gives, until when, how many downloads are left
    (None: any number until it expires)."""

    owner: str
    file_id: str
    created: float
    expires: float
    remaining: int | None


@dataclass(frozen=True, slots=True)
class ShareRecord:
    info: ShareInfo
    sha256: str

    def claimed(self) -> ShareRecord:
        remaining = self.info.remaining
        if remaining is None:
            return self
        return replace(self, info=replace(self.info, remaining=remaining - 1))

    def to_json(self) -> dict[str, Any]:
        info = self.info
        return {
            "sha256": self.sha256,
            "owner": info.owner,
            "file_id": info.file_id,
            "created": info.created,
            "expires": info.expires,
            "remaining": info.remaining,
        }

    @classmethod
    def from_json(cls, raw: Any) -> ShareRecord:
        data = _object(raw, "share")
        info = ShareInfo(
            owner=_str(data, "owner"),
            file_id=_str(data, "file_id"),
            created=_number(data, "created"),
            expires=_number(data, "expires"),
            remaining=_optional_count(data, "remaining"),
        )
        return cls(info=info, sha256=_digest(data))


def _object(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRecord(f"a {what} record is not an object")
    return raw


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise BadRecord(f"{key} is not a string")
    return value


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise BadRecord(f"{key} is not true or false")
    return value


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"{key} is not a number")
    if not math.isfinite(value):
        raise BadRecord(f"{key} is not a finite number")
    return float(value)


def _optional_number(data: dict[str, Any], key: str) -> float | None:
    return None if data.get(key) is None else _number(data, key)


def _optional_count(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRecord(f"{key} is not a count")
    return value


def _digest(data: dict[str, Any]) -> str:
    value = _str(data, "sha256")
    if _DIGEST.fullmatch(value) is None:
        raise BadRecord("sha256 is not a lowercase hex SHA-256")
    return value
