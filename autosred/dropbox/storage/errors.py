"""What the store refuses, each kind mapped by the tus routes to one status."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's refusals."""


class NotFound(StoreError):
    """No such upload for this owner: unknown, malformed, another owner's, or expired (tus 404)."""


class Expired(NotFound):
    """An upload of this owner past its expiry and not yet removed (tus 410; a NotFound to
    every caller that does not tell the two apart)."""


class UploadBusy(StoreError):
    """Another append to this upload is running (tus 409/423)."""


class OffsetMismatch(StoreError):
    """The client's offset is not the upload's (tus 409); `offset` is the right one."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the upload is at offset {offset}")
        self.offset = offset


class TooLarge(StoreError):
    """A length over the maximum, or data past the declared length (tus 413)."""


class QuotaExceeded(StoreError):
    """The owner's byte or file quota would be exceeded (413 for bytes, 507 at the root)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the {kind} quota is used up")
        self.kind = kind


class InsufficientSpace(StoreError):
    """The file system is (or would be) full (507); `offset` is the durable offset reached."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"no space left on the dropbox file system; durable offset {offset}")
        self.offset = offset


class ChecksumMismatch(StoreError):
    """The chunk's checksum differs (tus 460); the chunk was discarded."""


class BadChecksumAlgorithm(StoreError):
    """An algorithm the store does not verify (tus 400); it knows sha1 and sha256."""


class UnsafeStorage(StoreError):
    """The storage directory holds something the store did not put there (a symlink, a file
    where a directory belongs): refused rather than followed."""
