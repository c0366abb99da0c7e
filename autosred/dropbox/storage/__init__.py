"""The dropbox's storage layer (issue 11 item 2), under the service the tus routes use."""

from autosred.dropbox.storage.errors import (
    BadChecksumAlgorithm,
    ChecksumMismatch,
    Expired,
    InsufficientSpace,
    NotFound,
    OffsetMismatch,
    QuotaExceeded,
    StoreError,
    TooLarge,
    UnsafeStorage,
    UploadBusy,
)
from autosred.dropbox.storage.names import BadMetadata, BadName, check_name, parse_metadata
from autosred.dropbox.storage.store import Checksum, Entry, Quota, Store, StoredFile

__all__ = [
    "BadChecksumAlgorithm",
    "BadMetadata",
    "BadName",
    "Checksum",
    "ChecksumMismatch",
    "Entry",
    "Expired",
    "InsufficientSpace",
    "NotFound",
    "OffsetMismatch",
    "Quota",
    "QuotaExceeded",
    "Store",
    "StoreError",
    "StoredFile",
    "TooLarge",
    "UnsafeStorage",
    "UploadBusy",
    "check_name",
    "parse_metadata",
]
