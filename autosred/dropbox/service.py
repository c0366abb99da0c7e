"""The dropbox service: one per daemon, built from `dropbox.*`, owning the store.

The tus routes, the downloads and the admin API (through the daemon's control: admin never
imports dropbox) all go through it, so what "a file of this principal" means is decided in
one place: an owner sees only their own ids, and another owner's id is the same NotFound as
an id that never existed; `owner=None` is the admin's view of every owner.

Its pacer holds every transfer to `dropbox.busy_rate` while the model is busy (pacing.py).

It also runs the periodic expiry of unfinished uploads, and remembers (bounded) which ids it
expired, so a client resuming one learns 410 Gone rather than a bare 404 (tus: "404 or 410").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from autosred.config import DropboxSettings
from autosred.dropbox.pacing import TransferPacer
from autosred.dropbox.storage import Entry, NotFound, Store, StoredFile
from autosred.metrics import Metrics

_REMEMBERED_EXPIRED = 4096
"""How many expired ids answer 410 after their removal (then 404, like any unknown id)."""


def store_root(settings: DropboxSettings, state_dir: Path) -> Path:
    """`dropbox.root`, or dropbox/ under state_dir."""
    return settings.root if settings.root is not None else state_dir / "dropbox"


def expiry_interval(upload_expiry: float) -> float:
    """How often expired uploads are swept: half their lifetime, within [0.5 s, 5 min]."""
    return min(max(upload_expiry / 2, 0.5), 300.0)


class DropboxService:
    """The store and what the dropbox's callers do with it. Build with `await open(...)`."""

    def __init__(
        self,
        *,
        store: Store,
        upload_expiry: float,
        pacer: TransferPacer,
        metrics: Metrics,
        log: logging.Logger,
    ) -> None:
        self.store = store
        self.pacer = pacer
        self.upload_expiry = upload_expiry
        self._metrics = metrics
        self._log = log
        self._expired: OrderedDict[str, str] = OrderedDict()  # id -> owner
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        settings: DropboxSettings,
        state_dir: Path,
        *,
        metrics: Metrics,
        log: logging.Logger,
        model_busy: Callable[[], bool] = lambda: False,
    ) -> DropboxService:
        """`model_busy`: whether model requests are in flight now (the pacer's question)."""
        store = await Store.open(
            store_root(settings, state_dir),
            max_size=settings.max_size,
            upload_ttl=settings.upload_expiry,
            log=log,
        )
        pacer = TransferPacer(rate=settings.busy_rate, busy=model_busy, metrics=metrics)
        return cls(
            store=store,
            upload_expiry=settings.upload_expiry,
            pacer=pacer,
            metrics=metrics,
            log=log,
        )

    @property
    def max_size(self) -> int:
        return self.store.max_size

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the periodic expiry (once the daemon's loop runs)."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="dropbox.expiry")

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.store.close()

    async def _sweep(self) -> None:
        interval = expiry_interval(self.upload_expiry)
        reason = "cancelled"
        try:
            while True:
                await asyncio.sleep(interval)
                await self.expire()
        except asyncio.CancelledError:
            raise
        except Exception:
            reason = "crashed"
            self._log.exception("dropbox.expiry_crashed")
        finally:
            self._log.info("dropbox.expiry_ended", extra={"fields": {"reason": reason}})

    async def expire(self) -> list[str]:
        """Remove the unfinished uploads past their expiry now; their ids."""
        removed = await self.store.expire_entries()
        for entry in removed:
            self._expired[entry.id] = entry.owner
            self._metrics.dropbox_uploads_failed.labels(reason="expired").inc()
        while len(self._expired) > _REMEMBERED_EXPIRED:
            self._expired.popitem(last=False)
        return [entry.id for entry in removed]

    def was_expired(self, owner: str | None, upload_id: str) -> bool:
        """True when this id was an upload of owner (any owner for None) that expired here."""
        known = self._expired.get(upload_id)
        return known is not None and (owner is None or known == owner)

    # -- what callers do ---------------------------------------------------------------------

    async def entries(self, owner: str | None) -> list[Entry]:
        """The uploads and files of owner (every owner's for None), oldest first."""
        if owner is None:
            return await self.store.all_entries()
        return await self.store.entries(owner)

    async def lookup(self, owner: str | None, file_id: str) -> Entry:
        """One upload or file of owner (of anyone for None); NotFound (Expired) otherwise."""
        if owner is None:
            return await self.store.find(file_id)
        return await self.store.get(owner, file_id)

    async def remove(self, owner: str | None, file_id: str) -> Entry:
        """Remove an upload or a file (UploadBusy while a PATCH writes to it); what it was."""
        entry = await self.lookup(owner, file_id)
        await self.store.terminate(entry.owner, entry.id)
        if not entry.complete:
            self._metrics.dropbox_uploads_failed.labels(reason="terminated").inc()
        return entry

    async def open_download(self, owner: str | None, file_id: str) -> StoredFile:
        """A finished file opened for reading; NotFound for anything else (an upload too)."""
        entry = await self.lookup(owner, file_id)
        if not entry.complete:
            raise NotFound(file_id)
        return await self.store.open_file(entry.owner, entry.id)

    async def share_target(self, file_id: str) -> Entry:
        """The finished file a share link is made for (any owner's: the admin makes links);
        NotFound for an unknown id or an unfinished upload."""
        entry = await self.store.find(file_id)
        if not entry.complete:
            raise NotFound(file_id)
        return entry
