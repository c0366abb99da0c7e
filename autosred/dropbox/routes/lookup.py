"""One id as a principal may see it: its entry, 404 for anything it may not see, 410 for
its own upload that expired."""

from __future__ import annotations

from autosred.dropbox.access import Principal
from autosred.dropbox.routes.answers import Refusal, from_store, not_found
from autosred.dropbox.routes.auth import owner_scope
from autosred.dropbox.service import DropboxService
from autosred.dropbox.storage import Entry, Expired, NotFound


async def entry_of(service: DropboxService, principal: Principal, upload_id: str) -> Entry:
    try:
        return await service.lookup(owner_scope(principal), upload_id)
    except NotFound as exc:
        raise missing(service, principal, upload_id, exc) from exc


def missing(
    service: DropboxService, principal: Principal, upload_id: str, exc: NotFound
) -> Refusal:
    """410 for an upload of this principal that expired (now, or before the sweep removed
    it); 404 for everything else, another principal's ids included."""
    if isinstance(exc, Expired) or service.was_expired(owner_scope(principal), upload_id):
        return from_store(Expired(upload_id), upload_id=upload_id)
    return not_found()
