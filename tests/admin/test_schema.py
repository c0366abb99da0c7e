"""The wire types: round trips, tolerance of new fields, refusal of wrong types."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.admin import schema
from autosred.admin.schema import (
    ApiError,
    BrowserStatus,
    DriftField,
    DriftReport,
    DropboxCert,
    HelmValues,
    ModelStatus,
    Progress,
    ReloadResult,
    ScaleDone,
    ScaleRequest,
    SchemaError,
    Status,
    VersionInfo,
    Wire,
    default_socket_path,
    dumps,
    parse_scale_line,
)


def test_default_socket_path_for_root_and_users() -> None:
    assert default_socket_path(uid=0, env={"XDG_RUNTIME_DIR": "/run/user/0"}) == Path(
        "/run/autosred/admin.sock"
    )
    assert default_socket_path(uid=1000, env={"XDG_RUNTIME_DIR": "/run/user/1000"}) == Path(
        "/run/user/1000/autosred/admin.sock"
    )
    assert default_socket_path(uid=1000, env={}) == Path("/tmp/autosred-1000/admin.sock")
    assert default_socket_path(uid=1000, env={"XDG_RUNTIME_DIR": ""}) == Path(
        "/tmp/autosred-1000/admin.sock"
    )


FULL_MODEL = ModelStatus(
    name="qwen",
    served_model_name="Qwen/Qwen3-Coder",
    aliases=["claude-sonnet-*"],
    state="starting",
    in_flight=1,
    held=3,
    phase="pulling image",
    eta_seconds=42.5,
    last_wake_seconds=61.0,
    idle_in_seconds=None,
    last_error=None,
    endpoint="http://10.43.0.7:8000",
)


def _via_json(body: dict[str, Any]) -> Any:
    return json.loads(dumps(body))


def test_every_type_round_trips_through_json() -> None:
    status = Status(
        version="1.2.3",
        pid=42,
        uptime_seconds=7.5,
        engine="kubernetes",
        listeners={"api": "127.0.0.1:8011", "admin": "/run/autosred/admin.sock"},
        models=[FULL_MODEL, ModelStatus(name="b", served_model_name="b")],
        mcp={"fetch": "/mcp/fetch", "search": "/mcp/search"},
        hosted_tools=["web_fetch", "web_search"],
        browser=BrowserStatus(
            state="running",
            mode="cdp",
            target="ws://browserless:3000",
            sessions=2,
            in_flight=1,
            idle_in_seconds=None,
            last_start_seconds=1.25,
            last_error="the browser exited on its own",
        ),
    )
    assert Status.from_json(_via_json(status.to_json())) == status
    progress = Progress(model="qwen", state="starting", phase="x", detail="y", eta_seconds=1)
    assert Progress.from_json(_via_json(progress.to_json())) == progress
    assert ReloadResult.from_json(
        _via_json(ReloadResult(ok=False, messages=["bad"]).to_json())
    ) == (ReloadResult(ok=False, messages=["bad"]))
    assert VersionInfo.from_json(VersionInfo("1").to_json()) == VersionInfo("1")
    assert ScaleRequest.from_json({"direction": "down"}) == ScaleRequest("down", wait=False)


def test_unknown_keys_are_ignored_for_newer_daemons() -> None:
    body = FULL_MODEL.to_json() | {"gpu": {"free_mib": 1024}}
    assert ModelStatus.from_json(body) == FULL_MODEL


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"state": "sleeping"}, "'sleeping' is not one of"),
        ({"in_flight": "2"}, "in_flight: expected int"),
        ({"in_flight": True}, "got bool"),
        ({"aliases": ["a", 1]}, "list of strings"),
        ({"eta_seconds": "soon"}, "eta_seconds"),
    ],
)
def test_wrong_types_are_refused_with_the_key(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(SchemaError, match=needle):
        ModelStatus.from_json(FULL_MODEL.to_json() | change)


def test_a_missing_required_key_is_named() -> None:
    body = FULL_MODEL.to_json()
    del body["served_model_name"]
    with pytest.raises(SchemaError, match="missing 'served_model_name'"):
        ModelStatus.from_json(body)


def test_error_envelope_shape() -> None:
    assert ApiError("not_found", "no").to_json() == {
        "error": {"type": "not_found", "message": "no"}
    }
    with pytest.raises(SchemaError):
        ApiError.from_json({"detail": "Not Found"})


def test_scale_lines_are_told_apart() -> None:
    progress = Progress(model="m", state="starting", phase="p")
    done = ScaleDone(model="m", state="ready", elapsed_seconds=3.0)
    error = ApiError("wake_failed", "OOMKilled")
    assert parse_scale_line(progress.to_json()) == progress
    assert parse_scale_line(done.to_json()) == done
    assert parse_scale_line(error.to_json()) == error


def test_dumps_is_one_line() -> None:
    assert b"\n" not in dumps({"text": "two\nlines", "é": "ü"})


# --- the wire bytes, pinned: the codec is derived from the dataclass fields, so these hold the
# key order and the derived keys (reason, drifted, ok) to what autosrectl and scripts read.


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (
            ModelStatus(
                name="qwen",
                served_model_name="Q",
                aliases=["a"],
                state="failed",
                last_error="OOMKilled",
                eta_seconds=1.5,
            ),
            b'{"name":"qwen","served_model_name":"Q","aliases":["a"],"state":"failed",'
            b'"in_flight":0,"held":0,"phase":null,"eta_seconds":1.5,"last_wake_seconds":null,'
            b'"idle_in_seconds":null,"last_error":"OOMKilled","reason":"OOMKilled",'
            b'"endpoint":null,"degraded":null}',
        ),
        (
            DriftReport(
                model="m",
                engine="kubernetes",
                checked=True,
                fields=[DriftField("image.digest", "sha256:a", "sha256:b")],
            ),
            b'{"model":"m","engine":"kubernetes","checked":true,"drifted":true,"message":"",'
            b'"recipe_hash":null,"live_hash":null,"pod":null,'
            b'"fields":[{"field":"image.digest","recipe":"sha256:a","live":"sha256:b"}]}',
        ),
        (
            ScaleDone(model="m", state="ready", elapsed_seconds=2.0),
            b'{"ok":true,"model":"m","state":"ready","elapsed_seconds":2.0}',
        ),
        (ApiError("not_found", "no"), b'{"error":{"type":"not_found","message":"no"}}'),
        (
            Status(
                version="1",
                pid=2,
                uptime_seconds=3,
                engine="process",
                listeners={"api": "x"},
                models=[],
            ),
            b'{"version":"1","pid":2,"uptime_seconds":3,"engine":"process",'
            b'"listeners":{"api":"x"},"models":[],"mcp":{},"hosted_tools":[],"browser":null}',
        ),
        (
            BrowserStatus(state="running", mode="launch", target="chromium", sessions=1),
            b'{"state":"running","mode":"launch","target":"chromium","sessions":1,'
            b'"in_flight":0,"idle_in_seconds":null,"last_start_seconds":null,"last_error":null,'
            b'"gave_way_seconds":0.0}',
        ),
        (
            HelmValues(model="m", values={"models": [{"name": "m"}]}, yaml="models: []\n"),
            b'{"model":"m","values":{"models":[{"name":"m"}]},"yaml":"models: []\\n"}',
        ),
        (
            DropboxCert(fingerprint="AB:CD", pem="-----BEGIN", listen="127.0.0.1:8443"),
            b'{"fingerprint":"AB:CD","pem":"-----BEGIN","listen":"127.0.0.1:8443"}',
        ),
    ],
)
def test_wire_bytes_are_pinned(value: Wire, wire: bytes) -> None:
    assert dumps(value.to_json()) == wire


def test_a_derived_key_is_written_but_not_read() -> None:
    assert ModelStatus(name="m", served_model_name="m", last_error="x").reason is None
    body = ModelStatus(name="m", served_model_name="m", state="failed", last_error="x").to_json()
    assert ModelStatus.from_json(body | {"reason": "other"}).reason == "x"
    with pytest.raises(SchemaError, match=r"drift\.drifted: expected bool"):
        DriftReport.from_json({"model": "m", "engine": "e", "checked": True, "drifted": "no"})
    with pytest.raises(SchemaError, match=r"scale result\.ok: False is not one of True"):
        ScaleDone.from_json({"ok": False, "model": "m", "state": "ready", "elapsed_seconds": 1})


def test_errors_name_the_path_inside_a_body() -> None:
    body = Status(version="1", pid=1, uptime_seconds=1, engine="static").to_json()
    body["models"] = [FULL_MODEL.to_json(), FULL_MODEL.to_json() | {"held": "3"}]
    with pytest.raises(SchemaError, match=r"^status\.models\[1\]\.held: expected int, got str$"):
        Status.from_json(body)
    with pytest.raises(SchemaError, match=r"^status\.listeners: expected an object of strings$"):
        Status.from_json(body | {"listeners": {"api": 1}})


def test_a_missing_or_null_key_with_a_default_takes_the_default() -> None:
    assert ModelStatus.from_json({"name": "m", "served_model_name": "m", "aliases": None}) == (
        ModelStatus(name="m", served_model_name="m")
    )
    with pytest.raises(SchemaError, match=r"model\.served_model_name: expected str, got NoneType"):
        ModelStatus.from_json({"name": "m", "served_model_name": None})


# --- round trips of every wire type, over values hypothesis draws from the declarations


def _wire_types() -> list[type[Wire]]:
    found = [
        value
        for value in vars(schema).values()
        if isinstance(value, type) and issubclass(value, Wire) and value is not Wire
    ]
    return sorted(found, key=lambda cls: cls.__name__)


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
"""Any text JSON can carry as UTF-8 (a lone surrogate cannot be encoded)."""
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=10,
)


def _values(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a field's annotation (the test's own reading of the declarations)."""
    scalars: dict[Any, st.SearchStrategy[Any]] = {
        str: _TEXT,
        int: st.integers(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
        Any: _JSON,
    }
    if annotation in scalars:
        return scalars[annotation]
    if isinstance(annotation, type) and issubclass(annotation, Wire):
        return _instances(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(_values(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(_TEXT, _values(args[1]), max_size=3)
    (inner,) = [arg for arg in args if arg is not type(None)]
    return st.none() | _values(inner)


def _instances(cls: type[Wire]) -> st.SearchStrategy[Any]:
    if cls is schema.WatchLine:  # exactly one of its two keys
        return st.builds(cls, frame=_instances(schema.WatchFrame)) | st.builds(
            cls, request=_instances(schema.RequestRecord)
        )
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return st.builds(cls, **{f.name: _values(hints[f.name]) for f in fields if f.init})


def test_every_wire_type_is_covered() -> None:
    names = {cls.__name__ for cls in _wire_types()}
    assert names >= {"ModelStatus", "Status", "ModelList", "Progress", "ScaleDone", "ApiError"}
    assert len(names) == 34


@pytest.mark.parametrize("cls", _wire_types(), ids=lambda cls: cls.__name__)
def test_every_wire_type_round_trips(cls: type[Wire]) -> None:
    @settings(max_examples=60, deadline=None)
    @given(_instances(cls))
    def round_trip(value: Wire) -> None:
        wire = dumps(value.to_json())
        assert cls.from_json(json.loads(wire)) == value
        assert dumps(cls.from_json(json.loads(wire)).to_json()) == wire

    round_trip()


def test_a_status_without_mcp_from_an_older_daemon_has_no_servers() -> None:
    body = Status(version="1", pid=1, uptime_seconds=1, engine="static").to_json()
    del body["mcp"]
    assert Status.from_json(body).mcp == {}
    with pytest.raises(SchemaError, match=r"^status\.mcp: expected an object of strings$"):
        Status.from_json(body | {"mcp": {"fetch": 1}})


def test_a_status_without_browser_from_an_older_daemon_has_none() -> None:
    body = Status(version="1", pid=1, uptime_seconds=1, engine="static").to_json()
    del body["browser"]
    assert Status.from_json(body).browser is None
    with pytest.raises(SchemaError, match=r"^status\.browser\.state"):
        Status.from_json(body | {"browser": {"state": "asleep", "mode": "cdp", "target": "x"}})


def test_a_status_without_hosted_tools_from_an_older_daemon_runs_none() -> None:
    body = Status(version="1", pid=1, uptime_seconds=1, engine="static").to_json()
    del body["hosted_tools"]
    assert Status.from_json(body).hosted_tools == []
    with pytest.raises(SchemaError, match=r"^status\.hosted_tools"):
        Status.from_json(body | {"hosted_tools": "web_search"})


def test_watch_lines_are_told_apart() -> None:
    frame = schema.WatchFrame(at=1.5, models=[schema.WatchModel(name="m", state="ready")])
    record = schema.RequestRecord(
        at=2.0, surface="responses", client="-", model="m", status="200", duration_seconds=0.5
    )
    error = ApiError("unavailable", "autosred is shutting down")
    assert schema.parse_watch_line(schema.WatchLine(frame=frame).to_json()) == schema.WatchLine(
        frame=frame
    )
    as_event = schema.WatchLine(request=record).to_json()
    assert set(as_event) == {"request"}, "only the key that is set is written"
    assert schema.parse_watch_line(as_event) == schema.WatchLine(request=record)
    assert schema.parse_watch_line(error.to_json()) == error


@pytest.mark.parametrize("body", [{}, {"frame": None, "request": None}, {"nothing": 1}])
def test_a_watch_line_with_neither_kind_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(SchemaError, match="exactly one of 'frame' and 'request'"):
        schema.parse_watch_line(body)


@settings(max_examples=300, deadline=None)
@given(_JSON | st.dictionaries(st.sampled_from(["frame", "request", "error"]), _JSON))
def test_any_json_is_a_watch_line_or_a_schema_error(body: Any) -> None:
    try:
        schema.parse_watch_line(body)
    except SchemaError:
        pass
