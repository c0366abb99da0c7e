"""What the admin API needs from the daemon: the seam between the HTTP app and the scaler.

The daemon implements :class:`Control` over its real scaler and config reloader; tests
implement it with a small fake. The admin app never reaches past this protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from autosred.admin.schema import (
    ERROR_STATUS,
    ApiError,
    DriftReport,
    DropboxCert,
    DropboxFile,
    DropboxSession,
    DropboxShare,
    DropboxShareRequest,
    DropboxToken,
    DropboxTokenCreated,
    DropboxTokenRequest,
    HelmValues,
    ModelStatus,
    Progress,
    RecipeApplied,
    RecipeApplyRequest,
    ReloadResult,
    RequestRecord,
    Status,
    WatchFrame,
)


class ControlError(Exception):
    """A refusal or failure to show the admin client as-is.

    ``status`` is the HTTP status, ``type`` the envelope's machine-readable type (see
    ``schema.ERROR_STATUS``), ``message`` a sentence fit for a user.
    """

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message

    @classmethod
    def of(cls, type: str, message: str) -> ControlError:
        """An error of a known type, sent with that type's usual HTTP status."""
        return cls(ERROR_STATUS.get(type, 500), type, message)

    @classmethod
    def unknown_model(cls, model: str, available: Iterable[str]) -> ControlError:
        """404 naming the models there are, so a typo is fixed without another command."""
        names = sorted(available)
        listing = ", ".join(names) if names else "none configured"
        return cls(404, "not_found", f"no model named {model!r} (available: {listing})")

    def envelope(self) -> ApiError:
        return ApiError(type=self.type, message=self.message)


class Control(Protocol):
    """The daemon as the admin API sees it.

    ``status`` and ``models`` are snapshots (cheap, never block). The two scale methods are
    async generators: the app pulls the first item before it answers, so a ControlError
    raised before the first ``yield`` (unknown model, shutting down) becomes a plain HTTP error
    rather than a line in a stream.
    """

    def status(self) -> Status:
        """The daemon and all models now."""
        ...

    def models(self) -> list[ModelStatus]:
        """All configured models now, in config order."""
        ...

    def scale_up(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        """Start the model's wake unless one is under way or it is ready (one wake per model).

        First yields the state right after the request was taken. With ``wait`` it goes on
        yielding progress and returns after yielding the ``ready`` state; a failed wake raises
        ControlError (type ``wake_failed``, the engine's reason as the message). Without
        ``wait`` it returns after the first item and the wake goes on. Closing the iterator
        early (the client left) stops only the waiting, never the wake.
        Unknown model: ControlError.unknown_model.
        """
        ...

    def scale_down(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        """Stop the model once nothing is in flight (requests already streaming finish first).

        Same shape as ``scale_up``: first the state after the request was taken; with ``wait``
        progress until it yields ``stopped``; a failed stop raises ControlError.
        """
        ...

    def switch(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        """Make ``model`` the running model: every other GPU-using model stops once its
        in-flight requests are done, then this one wakes (explicit, so no minimum residency).
        Same shape as ``scale_up``."""
        ...

    async def drift(self, model: str) -> DriftReport:
        """The model's recipe, rendered, against what runs (field by field). Unknown model:
        ControlError.unknown_model; the engine cannot be asked: ControlError ``unavailable``."""
        ...

    def helm_values(self, model: str) -> HelmValues:
        """The model's recipe as helm/autosre values. Unknown model: ControlError.unknown_model;
        a recipe the chart cannot render (no image or model): ControlError ``bad_request``."""
        ...

    async def apply_recipe(self, model: str, request: RecipeApplyRequest) -> RecipeApplied:
        """Create or patch the recipe's objects by server-side apply (or, dry, say what that
        would do). Unknown model: ControlError.unknown_model; an engine that does not deploy
        from recipes: ``bad_request``; a conflict with another field manager: ``conflict``; an
        object the API server refuses: ``bad_request``; the API unreachable: ``unavailable``."""
        ...

    def dropbox_cert(self) -> DropboxCert:
        """The dropbox listener's certificate now. Dropbox not enabled: ControlError
        ``not_found``."""
        ...

    async def dropbox_tokens(self) -> list[DropboxToken]:
        """Every dropbox token (revoked and expired ones too), oldest first. Dropbox not
        enabled: ControlError ``not_found`` (so for every dropbox_ method)."""
        ...

    async def dropbox_create_token(self, request: DropboxTokenRequest) -> DropboxTokenCreated:
        """A new token, written to disk before it is answered. A bad name or lifetime:
        ``bad_request``; the name's token is active: ``conflict``."""
        ...

    async def dropbox_revoke_token(self, name: str) -> DropboxToken:
        """Revoke the active token `name` (``not_found`` when there is none)."""
        ...

    async def dropbox_session(self) -> DropboxSession:
        """The dropbox's address and certificate with a fresh short-lived token for
        autosrectl (every owner's files; in memory only)."""
        ...

    async def dropbox_files(self) -> list[DropboxFile]:
        """Every owner's files and unfinished uploads, oldest first."""
        ...

    async def dropbox_remove(self, file_id: str) -> DropboxFile:
        """Remove a file or an unfinished upload of any owner: ``not_found`` for an unknown
        id, ``conflict`` while an upload is being written to."""
        ...

    async def dropbox_share(self, request: DropboxShareRequest) -> DropboxShare:
        """A share link for a finished file (``not_found`` otherwise), its download count
        and expiry on disk before it is answered."""
        ...

    async def watch_frame(self) -> WatchFrame:
        """A snapshot of the box for a watcher: models with their servers' figures, recent
        requests, connections, GPUs, model server log tails. Cheap enough to call every
        ``WATCH_INTERVAL_MIN`` per watcher (what costs more is read in the background)."""
        ...

    def watch_requests(self) -> AsyncIterator[RequestRecord]:
        """Each request as it finishes, from when iteration starts until it is closed. Never
        slows a request: a reader that falls behind loses the oldest events it has not read."""
        ...

    async def reload(self) -> ReloadResult:
        """Re-read the config and recipes (as SIGHUP does).

        A rejected config is a result with ``ok=False`` and the reasons in ``messages``, the
        old config staying in force; ControlError is for reloads that could not be tried.
        """
        ...
