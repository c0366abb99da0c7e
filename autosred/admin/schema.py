"""Wire types of the admin API, shared by the daemon and ``autosrectl``.

``autosrectl`` imports this module and nothing else from autosred, and it must start fast, so
the types are frozen dataclasses with explicit ``to_json()`` (a JSON-ready dict) and
``from_json()`` (from a parsed dict) over stdlib ``json``: no pydantic, no aiohttp here.

``from_json`` ignores keys it does not know, so an older client keeps working against a newer
daemon that added fields; it raises :class:`SchemaError` when a known key has the wrong type.

Wire shapes (all bodies UTF-8 JSON; see ``autosred.admin.app`` for the routes):

- an error, on every route: ``{"error": {"type": "not_found", "message": "..."}}``
- ``POST /v1/models/{name}/scale`` with ``wait`` streams NDJSON: :class:`Progress` lines, then
  one final line, either :class:`ScaleDone` (``{"ok": true, ...}``) or an error envelope.
  :func:`parse_scale_line` tells them apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard, TypeVar, cast

from autosred import __version__

PACKAGE_VERSION = __version__
"""The version of this install: the daemon's in the daemon, the client's in autosrectl."""

API_VERSION = 1
"""Bumped when a route or a field changes incompatibly (adding fields does not bump it)."""

NDJSON = "application/x-ndjson"
SOCKET_ENV = "AUTOSRED_ADMIN_SOCKET"

ModelState = Literal["stopped", "starting", "ready", "stopping", "failed"]
MODEL_STATES: tuple[ModelState, ...] = ("stopped", "starting", "ready", "stopping", "failed")

ScaleDirection = Literal["up", "down", "switch"]
SCALE_DIRECTIONS: tuple[ScaleDirection, ...] = ("up", "down", "switch")
"""switch: make this the running model (others that use GPUs stop once idle, then it wakes)."""


def default_socket_path(*, uid: int | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where the admin socket lives when the config does not say.

    root: ``/run/autosred/admin.sock`` (systemd's RuntimeDirectory); any other user:
    ``$XDG_RUNTIME_DIR/autosred/admin.sock``, or ``/tmp/autosred-<uid>/admin.sock`` when
    ``XDG_RUNTIME_DIR`` is unset. The daemon and autosrectl both call this, so a user's own
    daemon and client meet without configuration.
    """
    uid = os.getuid() if uid is None else uid
    env = os.environ if env is None else env
    if uid == 0:
        return Path("/run/autosred/admin.sock")
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "autosred" / "admin.sock"
    return Path(f"/tmp/autosred-{uid}/admin.sock")


class SchemaError(ValueError):
    """A body that does not have the shape this module describes."""


# --- reading helpers: each names the key, so a bad body says what was wrong -------------------

_T = TypeVar("_T")


def _obj(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SchemaError(f"{what}: expected an object, got {type(data).__name__}")
    return cast(Mapping[str, Any], data)


def _get(data: Mapping[str, Any], key: str, kind: type[_T] | tuple[type, ...], what: str) -> _T:
    if key not in data:
        raise SchemaError(f"{what}: missing {key!r}")
    value = data[key]
    # bool is an int subclass; a count or a duration given as true/false is a bug upstream.
    if isinstance(value, bool) and kind is not bool:
        raise SchemaError(f"{what}.{key}: expected {_kind_name(kind)}, got bool")
    if not isinstance(value, kind):
        raise SchemaError(f"{what}.{key}: expected {_kind_name(kind)}, got {type(value).__name__}")
    return cast(_T, value)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def _str(data: Mapping[str, Any], key: str, what: str) -> str:
    return _get(data, key, str, what)


def _opt_str(data: Mapping[str, Any], key: str, what: str) -> str | None:
    return None if data.get(key) is None else _str(data, key, what)


def _int(data: Mapping[str, Any], key: str, what: str) -> int:
    return _get(data, key, int, what)


def _float(data: Mapping[str, Any], key: str, what: str) -> float:
    return float(_get(data, key, (int, float), what))


def _opt_float(data: Mapping[str, Any], key: str, what: str) -> float | None:
    return None if data.get(key) is None else _float(data, key, what)


def _str_list(data: Mapping[str, Any], key: str, what: str) -> list[str]:
    items = _get(data, key, list, what)
    if not all(isinstance(item, str) for item in items):
        raise SchemaError(f"{what}.{key}: expected a list of strings")
    return list(items)


def _is_direction(value: object) -> TypeGuard[ScaleDirection]:
    return value in SCALE_DIRECTIONS


def _is_state(value: object) -> TypeGuard[ModelState]:
    return value in MODEL_STATES


def _state(data: Mapping[str, Any], key: str, what: str) -> ModelState:
    value = _str(data, key, what)
    if not _is_state(value):
        raise SchemaError(f"{what}.{key}: {value!r} is not one of {', '.join(MODEL_STATES)}")
    return value


# --- the types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStatus:
    """One model as the daemon sees it now."""

    name: str
    served_model_name: str
    aliases: list[str] = field(default_factory=list)
    state: ModelState = "stopped"
    in_flight: int = 0
    """Requests holding a lease (streams count until their last byte)."""
    held: int = 0
    """Requests waiting for a wake to finish."""
    phase: str | None = None
    """The phase of the wake under way (e.g. "pulling image"), None when not starting."""
    eta_seconds: float | None = None
    last_wake_seconds: float | None = None
    idle_in_seconds: float | None = None
    """Seconds until idle scale-down; None when not ready, busy, or idle scale-down is off."""
    last_error: str | None = None
    endpoint: str | None = None
    degraded: str | None = None
    """Why the engine cannot be asked now (e.g. Kubernetes API unreachable); still serving."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "served_model_name": self.served_model_name,
            "aliases": list(self.aliases),
            "state": self.state,
            "in_flight": self.in_flight,
            "held": self.held,
            "phase": self.phase,
            "eta_seconds": self.eta_seconds,
            "last_wake_seconds": self.last_wake_seconds,
            "idle_in_seconds": self.idle_in_seconds,
            "last_error": self.last_error,
            # The contract's name for why a model is failed: present only in that state.
            "reason": self.last_error if self.state == "failed" else None,
            "endpoint": self.endpoint,
            "degraded": self.degraded,
        }

    @classmethod
    def from_json(cls, data: object) -> ModelStatus:
        what = "model"
        d = _obj(data, what)
        name = _str(d, "name", what)
        what = f"model {name!r}"
        return cls(
            name=name,
            served_model_name=_str(d, "served_model_name", what),
            aliases=_str_list(d, "aliases", what) if "aliases" in d else [],
            state=_state(d, "state", what),
            in_flight=_int(d, "in_flight", what) if "in_flight" in d else 0,
            held=_int(d, "held", what) if "held" in d else 0,
            phase=_opt_str(d, "phase", what),
            eta_seconds=_opt_float(d, "eta_seconds", what),
            last_wake_seconds=_opt_float(d, "last_wake_seconds", what),
            idle_in_seconds=_opt_float(d, "idle_in_seconds", what),
            last_error=_opt_str(d, "last_error", what),
            endpoint=_opt_str(d, "endpoint", what),
            degraded=_opt_str(d, "degraded", what) if "degraded" in d else None,
        )


@dataclass(frozen=True)
class Status:
    """``GET /v1/status``: the daemon and every model."""

    version: str
    pid: int
    uptime_seconds: float
    engine: str
    """The engine kind: kubernetes, process or static."""
    listeners: dict[str, str] = field(default_factory=dict)
    """Listener name -> address, e.g. {"api": "127.0.0.1:8011", "admin": "/run/...sock"}."""
    models: list[ModelStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "pid": self.pid,
            "uptime_seconds": self.uptime_seconds,
            "engine": self.engine,
            "listeners": dict(self.listeners),
            "models": [model.to_json() for model in self.models],
        }

    @classmethod
    def from_json(cls, data: object) -> Status:
        what = "status"
        d = _obj(data, what)
        listeners = _obj(d.get("listeners", {}), "status.listeners")
        if not all(isinstance(v, str) for v in listeners.values()):
            raise SchemaError("status.listeners: expected string addresses")
        return cls(
            version=_str(d, "version", what),
            pid=_int(d, "pid", what),
            uptime_seconds=_float(d, "uptime_seconds", what),
            engine=_str(d, "engine", what),
            listeners=dict(listeners),
            models=[ModelStatus.from_json(m) for m in _get(d, "models", list, what)],
        )


@dataclass(frozen=True)
class ModelList:
    """``GET /v1/models``."""

    models: list[ModelStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"models": [model.to_json() for model in self.models]}

    @classmethod
    def from_json(cls, data: object) -> ModelList:
        d = _obj(data, "models")
        return cls(models=[ModelStatus.from_json(m) for m in _get(d, "models", list, "models")])


@dataclass(frozen=True)
class Progress:
    """One step of a scale operation, as streamed to ``autosrectl scale --wait``."""

    model: str
    state: ModelState
    phase: str | None = None
    detail: str = ""
    eta_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "state": self.state,
            "phase": self.phase,
            "detail": self.detail,
            "eta_seconds": self.eta_seconds,
        }

    @classmethod
    def from_json(cls, data: object) -> Progress:
        what = "progress"
        d = _obj(data, what)
        return cls(
            model=_str(d, "model", what),
            state=_state(d, "state", what),
            phase=_opt_str(d, "phase", what),
            detail=_opt_str(d, "detail", what) or "",
            eta_seconds=_opt_float(d, "eta_seconds", what),
        )


@dataclass(frozen=True)
class ScaleDone:
    """The last line of a ``wait`` scale stream when the model reached its target state."""

    model: str
    state: ModelState
    elapsed_seconds: float
    """How long this request waited (not the wake's own duration if it joined one)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "model": self.model,
            "state": self.state,
            "elapsed_seconds": self.elapsed_seconds,
        }

    @classmethod
    def from_json(cls, data: object) -> ScaleDone:
        what = "scale result"
        d = _obj(data, what)
        if d.get("ok") is not True:
            raise SchemaError(f"{what}: 'ok' is not true")
        return cls(
            model=_str(d, "model", what),
            state=_state(d, "state", what),
            elapsed_seconds=_float(d, "elapsed_seconds", what),
        )


@dataclass(frozen=True)
class ScaleRequest:
    """The body of ``POST /v1/models/{name}/scale``."""

    direction: ScaleDirection
    wait: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"direction": self.direction, "wait": self.wait}

    @classmethod
    def from_json(cls, data: object) -> ScaleRequest:
        what = "scale request"
        d = _obj(data, what)
        direction = _str(d, "direction", what)
        if not _is_direction(direction):
            raise SchemaError(
                f"{what}.direction: expected 'up', 'down' or 'switch', got {direction!r}"
            )
        wait = _get(d, "wait", bool, what) if "wait" in d else False
        return cls(direction=direction, wait=wait)


@dataclass(frozen=True)
class ReloadResult:
    """``POST /v1/reload``: whether the new config and recipes were taken.

    ``ok`` false means the new config was rejected and the old one stays in force; it is
    answered with HTTP 200 because the reload request itself was carried out.
    """

    ok: bool
    messages: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    """The model names in force after the reload."""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "messages": list(self.messages), "models": list(self.models)}

    @classmethod
    def from_json(cls, data: object) -> ReloadResult:
        what = "reload result"
        d = _obj(data, what)
        return cls(
            ok=_get(d, "ok", bool, what),
            messages=_str_list(d, "messages", what) if "messages" in d else [],
            models=_str_list(d, "models", what) if "models" in d else [],
        )


@dataclass(frozen=True)
class VersionInfo:
    """``GET /v1/version``."""

    version: str
    api_version: int = API_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "api_version": self.api_version}

    @classmethod
    def from_json(cls, data: object) -> VersionInfo:
        what = "version"
        d = _obj(data, what)
        return cls(version=_str(d, "version", what), api_version=_int(d, "api_version", what))


@dataclass(frozen=True)
class DriftField:
    """One field in which what runs differs from the recipe (values as text)."""

    field: str
    """A path such as ``container.args``, ``container.env.HF_TOKEN``, ``image.digest``."""
    recipe: str
    live: str

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "recipe": self.recipe, "live": self.live}

    @classmethod
    def from_json(cls, data: object) -> DriftField:
        what = "drift field"
        d = _obj(data, what)
        return cls(
            field=_str(d, "field", what), recipe=_str(d, "recipe", what), live=_str(d, "live", what)
        )


@dataclass(frozen=True)
class DriftReport:
    """``GET /v1/models/{name}/drift``: the recipe's rendered spec against what runs."""

    model: str
    engine: str
    checked: bool
    """False when there is nothing to compare (an engine that renders no spec, or the model
    was never deployed); ``message`` says which."""
    message: str = ""
    recipe_hash: str | None = None
    live_hash: str | None = None
    pod: str | None = None
    """The pod compared, when one runs."""
    fields: list[DriftField] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "engine": self.engine,
            "checked": self.checked,
            "drifted": self.drifted,
            "message": self.message,
            "recipe_hash": self.recipe_hash,
            "live_hash": self.live_hash,
            "pod": self.pod,
            "fields": [item.to_json() for item in self.fields],
        }

    @classmethod
    def from_json(cls, data: object) -> DriftReport:
        what = "drift"
        d = _obj(data, what)
        return cls(
            model=_str(d, "model", what),
            engine=_str(d, "engine", what),
            checked=_get(d, "checked", bool, what),
            message=_opt_str(d, "message", what) or "",
            recipe_hash=_opt_str(d, "recipe_hash", what),
            live_hash=_opt_str(d, "live_hash", what),
            pod=_opt_str(d, "pod", what),
            fields=[DriftField.from_json(f) for f in _get(d, "fields", list, what)]
            if "fields" in d
            else [],
        )


@dataclass(frozen=True)
class HelmValues:
    """``GET /v1/recipes/{name}/helm-values``: a recipe as values of the helm/autosre chart."""

    model: str
    values: dict[str, Any]
    """The chart's values for this recipe alone (``{"models": [...]}``)."""
    yaml: str
    """The same, as a values file (rendered by the daemon: autosrectl needs no YAML library)."""

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "values": dict(self.values), "yaml": self.yaml}

    @classmethod
    def from_json(cls, data: object) -> HelmValues:
        what = "helm values"
        d = _obj(data, what)
        return cls(
            model=_str(d, "model", what),
            values=dict(_obj(d.get("values"), f"{what}.values")),
            yaml=_str(d, "yaml", what),
        )


# Error types the admin API uses, with the HTTP status each is sent with.
ERROR_STATUS: dict[str, int] = {
    "bad_request": 400,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "internal": 500,
    "wake_failed": 502,
    "unavailable": 503,
}


@dataclass(frozen=True)
class ApiError:
    """The admin API's one error envelope: ``{"error": {"type": ..., "message": ...}}``."""

    type: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message}}

    @classmethod
    def from_json(cls, data: object) -> ApiError:
        what = "error"
        inner = _obj(_obj(data, what).get("error"), what)
        return cls(type=_str(inner, "type", what), message=_str(inner, "message", what))


ScaleLine = Progress | ScaleDone | ApiError


def parse_scale_line(data: object) -> ScaleLine:
    """One line of a ``wait`` scale stream: an error envelope, the final result, or progress."""
    d = _obj(data, "scale stream line")
    if "error" in d:
        return ApiError.from_json(d)
    if "ok" in d:
        return ScaleDone.from_json(d)
    return Progress.from_json(d)


def dumps(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; one line, so it doubles as an NDJSON record (add the newline)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
