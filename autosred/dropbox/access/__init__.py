"""Who may use the dropbox (issue 11 item 4): bearer tokens, autosrectl's session tokens and
share links, kept as digests in one state file; a failed-authentication limit per address."""

from autosred.dropbox.access.access import (
    LOCAL_NAME,
    SESSION_TTL,
    Access,
    AccessError,
    Denied,
    DenyReason,
    Principal,
    SharedFile,
    TokenExists,
    UnknownToken,
    access_file,
)
from autosred.dropbox.access.ratelimit import FailureLimiter
from autosred.dropbox.access.records import ShareInfo, TokenInfo, is_token_name
from autosred.dropbox.access.statefile import StateFileError

__all__ = [
    "LOCAL_NAME",
    "SESSION_TTL",
    "Access",
    "AccessError",
    "Denied",
    "DenyReason",
    "FailureLimiter",
    "Principal",
    "ShareInfo",
    "SharedFile",
    "StateFileError",
    "TokenExists",
    "TokenInfo",
    "UnknownToken",
    "access_file",
    "is_token_name",
]
