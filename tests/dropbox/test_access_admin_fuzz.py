"""The admin API's dropbox bodies, fuzzed through the daemon's own DropboxControl over a real
Access and a real store: every body is answered (a wire type or a 400/404/409 ControlError),
never a crash, and nothing a refused body asked for is kept."""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autosred.admin.control import ControlError
from autosred.admin.schema import (
    DropboxShareRequest,
    DropboxTokenRequest,
    SchemaError,
)
from autosred.daemon.dropboxcontrol import DropboxControl
from autosred.dropbox.access import Access
from autosred.dropbox.pacing import TransferPacer
from autosred.dropbox.service import DropboxService
from autosred.dropbox.storage import Store
from autosred.metrics import Metrics

LOG = logging.getLogger("test.dropbox.fuzz")
numbers = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
)
names = st.text(max_size=70) | st.sampled_from(["alice", "a" * 64, "a" * 65, "@autosrectl"])


async def control_on(directory: Path) -> tuple[DropboxControl, Access, DropboxService]:
    access = await Access.open(directory / "access.json")
    store = await Store.open(directory / "root", max_size=1 << 20, min_free=0, log=LOG)
    metrics = Metrics()
    pacer = TransferPacer(rate=0, busy=lambda: False, metrics=metrics)
    service = DropboxService(
        store=store, upload_expiry=3600.0, pacer=pacer, metrics=metrics, log=LOG
    )
    control = DropboxControl(
        tls=lambda: None,
        access=lambda: access,
        files=lambda: service,
        listen=lambda: "127.0.0.1:8443",
        hostnames=lambda: ["files.example.org"],
    )
    return control, access, service


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
            | names
            | numbers,
            "max_bytes": numbers,
            "max_files": numbers,
            "expires_seconds": numbers,
            "read_only": numbers,
        },
    )
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_token_request_is_answered_or_refused_as_a_client_error(body: dict[str, Any]) -> None:
    async def run(directory: Path) -> None:
        control, access, service = await control_on(directory)
        try:
            try:
                request = DropboxTokenRequest.from_json(body)
            except SchemaError:
                return  # the admin app answers 400 before the control is asked
            try:
                created = await control.create_token(request)
            except ControlError as exc:
                assert exc.status in (400, 409), exc.message
                assert access.tokens() == []
                return
            assert created.info.name == request.name
            expires = created.info.expires
            assert expires is None or math.isfinite(expires)
            reopened = await Access.open(directory / "access.json")
            assert [info.name for info in reopened.tokens()] == [request.name]
        finally:
            await service.aclose()

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run(Path(directory)))


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.text(max_size=40) | numbers,
            "expires_seconds": numbers,
            "max_downloads": numbers,
        },
    ),
    st.booleans(),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_share_request_is_answered_or_refused_as_a_client_error(
    body: dict[str, Any], real_file: bool
) -> None:
    async def run(directory: Path) -> None:
        control, access, service = await control_on(directory)
        try:
            if real_file:
                entry = await service.store.create("alice", 0, {"filename": b"empty.txt"})
                body.setdefault("id", entry.id)
            try:
                request = DropboxShareRequest.from_json(body)
            except SchemaError:
                return
            try:
                shared = await control.share(request)
            except ControlError as exc:
                assert exc.status in (400, 404), exc.message
                assert access.shares() == []
                return
            assert shared.url.startswith("https://files.example.org:8443/s/asds_")
            assert math.isfinite(shared.expires)
        finally:
            await service.aclose()

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run(Path(directory)))


async def test_without_the_dropbox_every_admin_method_is_a_404_saying_so() -> None:
    control = DropboxControl(
        tls=lambda: None,
        access=lambda: None,
        files=lambda: None,
        listen=lambda: "",
        hostnames=tuple,
    )
    calls = [
        control.tokens(),
        control.create_token(DropboxTokenRequest(name="alice")),
        control.revoke_token("alice"),
        control.session(),
        control.files(),
        control.remove("x"),
        control.share(DropboxShareRequest(id="x")),
    ]
    for call in calls:
        try:
            await call
        except ControlError as exc:
            assert (exc.status, exc.type) == (404, "not_found")
            assert "dropbox.enabled" in exc.message
        else:
            raise AssertionError("answered without a dropbox")
