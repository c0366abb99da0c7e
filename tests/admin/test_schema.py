"""The wire types: round trips, tolerance of new fields, refusal of wrong types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autosred.admin.schema import (
    ApiError,
    ModelStatus,
    Progress,
    ReloadResult,
    ScaleDone,
    ScaleRequest,
    SchemaError,
    Status,
    VersionInfo,
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
