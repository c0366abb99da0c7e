"""Wire types of the admin API, shared by the daemon and ``autosrectl``.

``autosrectl`` imports this module and nothing else from autosred, and it must start fast, so
the types are frozen dataclasses over stdlib ``json``: no pydantic, no aiohttp here. Each
declares its fields once; ``to_json()`` (a JSON-ready dict) and ``from_json()`` (from a parsed
dict) are derived from that declaration by :class:`Wire` (see "the codec" below).

``from_json`` ignores keys it does not know, so an older client keeps working against a newer
daemon that added fields; it raises :class:`SchemaError` when a known key has the wrong type.

Wire shapes (all bodies UTF-8 JSON; see ``autosred.admin.app`` for the routes):

- an error, on every route: ``{"error": {"type": "not_found", "message": "..."}}``
- ``POST /v1/models/{name}/scale`` with ``wait`` streams NDJSON: :class:`Progress` lines, then
  one final line, either :class:`ScaleDone` (``{"ok": true, ...}``) or an error envelope.
  :func:`parse_scale_line` tells them apart.
- ``GET /v1/watch?interval=SECONDS`` streams NDJSON for a live view (``autosrectl watch``): one
  :class:`WatchLine` per line, ``{"frame": WatchFrame}`` every ``interval`` (default 1 s,
  0.1 to 60) and ``{"request": RequestRecord}`` as each request finishes; an error envelope
  only if the stream cannot go on. :func:`parse_watch_line` tells them apart. A watcher that
  reads slowly misses frames (the next one is built only once the last was taken) and the
  oldest request events (each watcher's backlog is bounded); it never slows a request.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, Union, cast

from autosred import __version__

PACKAGE_VERSION = __version__
"""The version of this install: the daemon's in the daemon, the client's in autosrectl."""

API_VERSION = 1
"""Bumped when a route or a field changes incompatibly (adding fields does not bump it)."""

NDJSON = "application/x-ndjson"
SOCKET_ENV = "AUTOSRED_ADMIN_SOCKET"

StateName = Literal["stopped", "starting", "ready", "stopping", "failed"]

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


# --- the codec: each type's fields, read from its dataclass declaration once -------------------
#
# Every wire type is a frozen dataclass deriving from Wire: its fields, in declaration order, are
# the keys of its JSON object, so a field is written once. How a field is read and written
# follows from its annotation: str, int, float, bool, a Literal, ``X | None``, ``list[X]``,
# ``dict[str, X]``, another Wire type, or Any (taken as it comes). When reading:
#
# - a field without a default is required; a missing key takes the field's default, and so does
#   null unless the annotation admits None;
# - a field declared with ``init=False`` is derived from the others (``__post_init__`` sets it):
#   it is written, and when read only its type is checked (a daemon may add or drop it);
# - keys this module does not know are ignored, so an older client keeps working against a
#   newer daemon that added fields; a known key of the wrong type raises SchemaError naming its
#   path (``status.models[1].in_flight``).
#
# Annotations are resolved on a type's first use, not at import (autosrectl's start-up time),
# and the result is kept on the class.

_Decode = Callable[[object, str], Any]
_Encode = Callable[[Any], Any]


def _obj(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SchemaError(f"{what}: expected an object, got {type(data).__name__}")
    return cast(Mapping[str, Any], data)


def _as_is(value: Any) -> Any:
    return value


_SCALARS: dict[Any, tuple[tuple[type, ...], str]] = {
    str: ((str,), "strings"),
    int: ((int,), "integers"),
    float: ((int, float), "numbers"),
    bool: ((bool,), "booleans"),
}
"""A scalar annotation -> the JSON types it accepts, and what a list of them is called."""


def _scalar(kind: type) -> _Decode:
    accepted, _ = _SCALARS[kind]
    expected = " or ".join(k.__name__ for k in accepted)

    def decode(value: object, what: str) -> Any:
        # bool is an int subclass; a count or a duration given as true/false is a bug upstream.
        if not isinstance(value, accepted) or (isinstance(value, bool) and kind is not bool):
            raise SchemaError(f"{what}: expected {expected}, got {type(value).__name__}")
        return float(cast(float, value)) if kind is float else value

    return decode


def _literal(choices: tuple[Any, ...]) -> _Decode:
    *head, last = (repr(choice) for choice in choices)
    named = f"{', '.join(head)} or {last}" if head else last

    def decode(value: object, what: str) -> Any:
        # By type as well as value: 1 == True, but a 1 is not the literal true.
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise SchemaError(f"{what}: {value!r} is not one of {named}")
        return value

    return decode


def _list(item: Any) -> _Decode:
    decode_item = _decoder(item)
    scalars = _SCALARS.get(item)

    def decode(value: object, what: str) -> Any:
        if not isinstance(value, list):
            raise SchemaError(f"{what}: expected list, got {type(value).__name__}")
        try:
            return [decode_item(v, f"{what}[{i}]") for i, v in enumerate(value)]
        except SchemaError:
            if scalars is None:
                raise
            raise SchemaError(f"{what}: expected a list of {scalars[1]}") from None

    return decode


def _dict(item: Any) -> _Decode:
    decode_item = _decoder(item)
    scalars = _SCALARS.get(item)

    def decode(value: object, what: str) -> Any:
        mapping = _obj(value, what)
        try:
            return {str(k): decode_item(v, f"{what}.{k}") for k, v in mapping.items()}
        except SchemaError:
            if scalars is None:
                raise
            raise SchemaError(f"{what}: expected an object of {scalars[1]}") from None

    return decode


def _optional(inner: _Decode) -> _Decode:
    def decode(value: object, what: str) -> Any:
        return None if value is None else inner(value, what)

    return decode


def _decoder(annotation: Any) -> _Decode:
    """How a value of this annotation is read from parsed JSON."""
    if annotation is Any:
        return lambda value, what: value
    if annotation in _SCALARS:
        return _scalar(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Wire):
        return annotation.decode
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return _literal(args)
    if origin is list:
        return _list(args[0])
    if origin is dict and args[0] is str:
        return _dict(args[1])
    if origin in (Union, types.UnionType) and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1:
            return _optional(_decoder(rest[0]))
    raise TypeError(f"admin.schema: no codec for {annotation!r}")


def _encoder(annotation: Any) -> _Encode:
    """How a value of this annotation is written as JSON-ready data (lists and maps copied)."""
    if isinstance(annotation, type) and issubclass(annotation, Wire):
        return lambda value: value.to_json()
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        item = _encoder(args[0])
        return list if item is _as_is else lambda value: [item(v) for v in value]
    if origin is dict:
        item = _encoder(args[1])
        return dict if item is _as_is else lambda value: {k: item(v) for k, v in value.items()}
    if origin in (Union, types.UnionType):
        inner = [_encoder(arg) for arg in args if arg is not type(None)]
        if len(inner) == 1 and inner[0] is not _as_is:
            only = inner[0]
            return lambda value: None if value is None else only(value)
    return _as_is


@dataclass(frozen=True)
class _Field:
    name: str
    encode: _Encode
    decode: _Decode
    derived: bool
    """Declared with init=False: written, type-checked when read, never passed to __init__."""
    default: Callable[[], Any] | None
    """None: the key is required."""
    nullable: bool


def _fields(cls: type[Wire]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    result = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        annotation = hints[f.name]
        default: Callable[[], Any] | None = None
        if f.default is not dataclasses.MISSING:
            default = functools.partial(_as_is, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory
        result.append(
            _Field(
                name=f.name,
                encode=_encoder(annotation),
                decode=_decoder(annotation),
                derived=not f.init,
                default=default,
                nullable=type(None) in typing.get_args(annotation),
            )
        )
    return tuple(result)


class Wire:
    """A wire type: a frozen dataclass whose fields are its JSON object's keys.

    ``what`` (a class keyword) names it in errors: ``class Progress(Wire, what="progress")``.
    """

    _what: ClassVar[str]
    _codec: ClassVar[tuple[_Field, ...] | None] = None

    def __init_subclass__(cls, *, what: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._what = what
        cls._codec = None

    @classmethod
    def _wire_fields(cls) -> tuple[_Field, ...]:
        codec = cls._codec
        if codec is None:
            codec = cls._codec = _fields(cls)
        return codec

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dump it with :func:`dumps`)."""
        return {f.name: f.encode(getattr(self, f.name)) for f in self._wire_fields()}

    @classmethod
    def from_json(cls, data: object) -> Self:
        """From a parsed JSON body; raises SchemaError saying which key is wrong."""
        return cls.decode(data, cls._what)

    @classmethod
    def decode(cls, data: object, what: str) -> Self:
        """``from_json`` for a value at ``what`` inside a larger body."""
        body = _obj(data, what)
        values: dict[str, Any] = {}
        for f in cls._wire_fields():
            present = f.name in body
            value = body.get(f.name)
            if f.derived:
                if present:
                    f.decode(value, f"{what}.{f.name}")
                continue
            if value is None and not (present and f.nullable):
                if f.default is not None:
                    values[f.name] = f.default()
                    continue
                if not present:
                    raise SchemaError(f"{what}: missing {f.name!r}")
            values[f.name] = f.decode(value, f"{what}.{f.name}")
        return cls(**values)


# --- the types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStatus(Wire, what="model"):
    """One model as the daemon sees it now."""

    name: str
    served_model_name: str
    aliases: list[str] = field(default_factory=list)
    state: StateName = "stopped"
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
    reason: str | None = field(init=False)
    """The contract's name for why a model is failed: ``last_error``, in that state only."""
    endpoint: str | None = None
    degraded: str | None = None
    """Why the engine cannot be asked now (e.g. Kubernetes API unreachable); still serving."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", self.last_error if self.state == "failed" else None)


@dataclass(frozen=True)
class BrowserStatus(Wire, what="browser"):
    """The browser of the MCP ``browser`` server, a workload like a model."""

    state: Literal["stopped", "starting", "running", "stopping"]
    mode: Literal["launch", "cdp"]
    """``launch``: a local Chromium child; ``cdp``: a browser reached at ``mcp.browser.cdp_url``."""
    target: str
    """The executable launched, or the CDP endpoint."""
    sessions: int = 0
    """Browser contexts open (one per MCP session)."""
    in_flight: int = 0
    """Browser tool calls running or waiting for the browser to start."""
    idle_in_seconds: float | None = None
    """Seconds until it is stopped for idleness; None unless running and unused."""
    last_start_seconds: float | None = None
    last_error: str | None = None
    """Why the last start failed, or that the browser exited on its own."""
    gave_way_seconds: float = 0.0
    """Seconds browser actions waited, summed, to start ``mcp.browser.busy_interval`` apart
    while model requests were in flight."""


@dataclass(frozen=True)
class Status(Wire, what="status"):
    """``GET /v1/status``: the daemon and every model."""

    version: str
    pid: int
    uptime_seconds: float
    engine: str
    """The engine kind: kubernetes, process or static."""
    listeners: dict[str, str] = field(default_factory=dict)
    """Listener name -> address, e.g. {"api": "127.0.0.1:8011", "admin": "/run/...sock"}."""
    models: list[ModelStatus] = field(default_factory=list)
    mcp: dict[str, str] = field(default_factory=dict)
    """The MCP servers the api listener serves: name -> path, e.g. {"fetch": "/mcp/fetch"}.
    `autosrectl claude`/`codex` hand them to the client; absent from an older daemon, so
    such a daemon's clients get none."""
    hosted_tools: list[str] = field(default_factory=list)
    """The vendor-hosted tools the daemon runs itself (``web_search``, ``web_fetch``), so
    `autosrectl codex` can turn Codex's live web search on; absent from an older daemon."""
    browser: BrowserStatus | None = None
    """The MCP browser's workload; None when ``mcp.browser`` is off (or an older daemon)."""


@dataclass(frozen=True)
class ModelList(Wire, what="models"):
    """``GET /v1/models``."""

    models: list[ModelStatus] = field(default_factory=list)


@dataclass(frozen=True)
class Progress(Wire, what="progress"):
    """One step of a scale operation, as streamed to ``autosrectl scale --wait``."""

    model: str
    state: StateName
    phase: str | None = None
    detail: str = ""
    eta_seconds: float | None = None


@dataclass(frozen=True)
class ScaleDone(Wire, what="scale result"):
    """The last line of a ``wait`` scale stream when the model reached its target state."""

    ok: Literal[True] = field(default=True, init=False)
    """What tells this line from Progress (see parse_scale_line)."""
    model: str
    state: StateName
    elapsed_seconds: float
    """How long this request waited (not the wake's own duration if it joined one)."""


@dataclass(frozen=True)
class ScaleRequest(Wire, what="scale request"):
    """The body of ``POST /v1/models/{name}/scale``."""

    direction: ScaleDirection
    wait: bool = False


@dataclass(frozen=True)
class ReloadResult(Wire, what="reload result"):
    """``POST /v1/reload``: whether the new config and recipes were taken.

    ``ok`` false means the new config was rejected and the old one stays in force; it is
    answered with HTTP 200 because the reload request itself was carried out.
    """

    ok: bool
    messages: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    """The model names in force after the reload."""


@dataclass(frozen=True)
class VersionInfo(Wire, what="version"):
    """``GET /v1/version``."""

    version: str
    api_version: int = API_VERSION


@dataclass(frozen=True)
class DriftField(Wire, what="drift field"):
    """One field in which what runs differs from the recipe (values as text)."""

    field: str
    """A path such as ``container.args``, ``container.env.HF_TOKEN``, ``image.digest``."""
    recipe: str
    live: str


@dataclass(frozen=True)
class DriftReport(Wire, what="drift"):
    """``GET /v1/models/{name}/drift``: the recipe's rendered spec against what runs."""

    model: str
    engine: str
    checked: bool
    """False when there is nothing to compare (an engine that renders no spec, or the model
    was never deployed); ``message`` says which."""
    drifted: bool = field(init=False)
    """Whether any field differs (``fields`` is not empty)."""
    message: str = ""
    recipe_hash: str | None = None
    live_hash: str | None = None
    pod: str | None = None
    """The pod compared, when one runs."""
    fields: list[DriftField] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drifted", bool(self.fields))


@dataclass(frozen=True)
class HelmValues(Wire, what="helm values"):
    """``GET /v1/recipes/{name}/helm-values``: a recipe as values of the helm/autosre chart."""

    model: str
    values: dict[str, Any]
    """The chart's values for this recipe alone (``{"models": [...]}``)."""
    yaml: str
    """The same, as a values file (rendered by the daemon: autosrectl needs no YAML library)."""


@dataclass(frozen=True)
class RecipeApplyRequest(Wire, what="recipe apply request"):
    """The body of ``POST /v1/recipes/{name}/apply``."""

    dry_run: bool = False
    """Ask the API server what the apply would do (``dryRun=All``); change nothing."""
    force: bool = False
    """Take over fields another field manager set (without it they are a conflict)."""


@dataclass(frozen=True)
class AppliedObject(Wire, what="applied object"):
    """One object of a recipe apply."""

    kind: str
    """``Service`` or ``Deployment``."""
    name: str
    action: Literal["created", "configured", "unchanged"]
    """What the apply did to it (with ``dry_run``: would do)."""
    diff: str = ""
    """Unified diff, the live object against the applied one, without the fields the API
    server manages (managedFields, resourceVersion, status, …); empty when unchanged."""


@dataclass(frozen=True)
class RecipeApplied(Wire, what="recipe applied"):
    """``POST /v1/recipes/{name}/apply``: the recipe's objects after a server-side apply."""

    model: str
    dry_run: bool
    namespace: str
    objects: list[AppliedObject] = field(default_factory=list)


@dataclass(frozen=True)
class DropboxCert(Wire, what="dropbox certificate"):
    """``GET /v1/dropbox/cert``: the certificate the dropbox listener serves now."""

    fingerprint: str
    """SHA-256 of the certificate's DER form, upper-case hex pairs joined by colons."""
    pem: str
    listen: str
    """The address the listener is bound to (``host:port``)."""


DropboxTokenState = Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class DropboxToken(Wire, what="dropbox token"):
    """A dropbox bearer token as listed (its secret is never kept, so never shown again)."""

    name: str
    """Also the owner of the files uploaded with it."""
    state: DropboxTokenState
    created: float
    """Unix time."""
    expires: float | None = None
    """Unix time; null: never."""
    read_only: bool = False
    max_bytes: int | None = None
    """The token's byte quota (declared lengths, unfinished uploads included); null: none."""
    max_files: int | None = None


@dataclass(frozen=True)
class DropboxTokenList(Wire, what="dropbox tokens"):
    """``GET /v1/dropbox/tokens``: revoked and expired ones too, oldest first."""

    tokens: list[DropboxToken]


@dataclass(frozen=True)
class DropboxTokenRequest(Wire, what="dropbox token request"):
    """The body of ``POST /v1/dropbox/tokens``."""

    name: str
    max_bytes: int | None = None
    max_files: int | None = None
    expires_seconds: float | None = None
    """How long from now the token works; null: until revoked."""
    read_only: bool = False


@dataclass(frozen=True)
class DropboxTokenCreated(Wire, what="dropbox token created"):
    """``POST /v1/dropbox/tokens``: the secret (shown this once) and what is kept."""

    token: str
    info: DropboxToken


@dataclass(frozen=True)
class DropboxFile(Wire, what="dropbox file"):
    """A file (``complete``) or an unfinished upload in the dropbox."""

    id: str
    name: str | None
    size: int
    """The file's size; for an unfinished upload, the length it declared."""
    sha256: str | None
    """Hex; null until the upload is complete."""
    complete: bool
    owner: str
    """The token name it was uploaded with (``@autosrectl`` for autosrectl's own)."""


@dataclass(frozen=True)
class DropboxFileList(Wire, what="dropbox files"):
    """``GET /v1/dropbox/files``: every owner's, oldest first."""

    files: list[DropboxFile]


@dataclass(frozen=True)
class DropboxShareRequest(Wire, what="dropbox share request"):
    """The body of ``POST /v1/dropbox/shares``."""

    id: str
    expires_seconds: float = 24 * 3600.0
    max_downloads: int | None = None
    """null: any number of downloads until it expires."""


@dataclass(frozen=True)
class DropboxShare(Wire, what="dropbox share"):
    """``POST /v1/dropbox/shares``: the link (its secret shown this once)."""

    url: str
    """``https://HOST:PORT/s/SECRET``: downloadable without a token."""
    id: str
    owner: str
    expires: float
    max_downloads: int | None = None


@dataclass(frozen=True)
class DropboxSession(Wire, what="dropbox session"):
    """``POST /v1/dropbox/session``: what autosrectl needs to reach the dropbox itself."""

    url: str
    """``https://ADDRESS:PORT`` of the listener as bound."""
    fingerprint: str
    """The certificate to pin (as in DropboxCert)."""
    pem: str
    token: str
    """A bearer token that sees every owner's files, kept in the daemon's memory only."""
    expires: float
    """Unix time the token stops working."""


@dataclass(frozen=True)
class ServerFigures(Wire, what="server figures"):
    """A running model's server's own figures, from its ``/metrics`` (vLLM's names).

    Gauges as last read; rates and quantiles over the last minute of readings (None until
    two readings a minute apart, or when the series is absent)."""

    requests_running: float | None = None
    """``vllm:num_requests_running``."""
    requests_waiting: float | None = None
    """``vllm:num_requests_waiting``: queued behind the running ones."""
    kv_cache_usage: float | None = None
    """``vllm:kv_cache_usage_perc`` (older vLLM: ``vllm:gpu_cache_usage_perc``), 0..1."""
    prompt_tokens_per_second: float | None = None
    """From ``vllm:prompt_tokens_total``: prefill throughput."""
    generation_tokens_per_second: float | None = None
    """From ``vllm:generation_tokens_total``: decode throughput."""
    ttft_p50_seconds: float | None = None
    """Time to first token, median, from ``vllm:time_to_first_token_seconds`` buckets."""
    ttft_p95_seconds: float | None = None
    prefix_cache_hit_rate: float | None = None
    """``vllm:prefix_cache_hits_total`` / ``vllm:prefix_cache_queries_total``, 0..1."""


@dataclass(frozen=True)
class WatchModel(Wire, what="watch model"):
    """One model in a watch frame."""

    name: str
    state: StateName
    phase: str | None = None
    """The wake's phase while starting."""
    eta_seconds: float | None = None
    """Seconds until the wake under way is expected to finish."""
    uptime_seconds: float | None = None
    """Seconds since it became ready; None when not ready."""
    idle_left_seconds: float | None = None
    """Seconds until idle scale-down; None when busy, not ready, or idle scale-down is off."""
    in_flight: int = 0
    held: int = 0
    """Requests waiting for the wake to finish."""
    drift: list[DriftField] = field(default_factory=list)
    """How what runs differs from the recipe (empty: it does not, or cannot be told)."""
    residency_bytes: int | None = None
    """GPU memory the model's server holds (None: unknown or no GPU)."""
    last_error: str | None = None
    server: ServerFigures | None = None
    """None when the model is not running or its /metrics could not be read."""


@dataclass(frozen=True)
class RequestRecord(Wire, what="request"):
    """One finished client request (the daemon keeps the last few hundred in memory)."""

    at: float
    """When it finished, epoch seconds."""
    surface: str
    """anthropic, responses, openai, …"""
    client: str
    """The client token's name, "-" without tokens."""
    model: str
    """The recipe's name ("-" when the request named no known model)."""
    status: str
    """As ``autosred_requests_total`` labels it: the HTTP status ("200", "529"), "499" when the
    client went away first, "stream_error" when a stream failed after its 200."""
    ttfb_seconds: float | None = None
    """Time to the first byte of a streamed answer; None when the answer was not streamed
    (it went whole, at ``duration_seconds``) or nothing was sent."""
    tokens_in: int | None = None
    tokens_out: int | None = None
    duration_seconds: float = 0.0


@dataclass(frozen=True)
class WatchConnection(Wire, what="connection"):
    """Open connections to one listener from one peer address."""

    listener: str
    """api, codex, dropbox, …"""
    surface: str
    """What the listener serves (the listener's name for now: one surface per listener)."""
    peer: str
    """The peer's address (host only: a client's ports change with each connection)."""
    count: int


@dataclass(frozen=True)
class WatchGpu(Wire, what="gpu"):
    """One GPU's readings (NVML)."""

    index: int
    name: str
    memory_used_bytes: int
    memory_total_bytes: int
    utilization_percent: float | None = None
    temperature_celsius: float | None = None
    power_watts: float | None = None


@dataclass(frozen=True)
class LogLine(Wire, what="log line"):
    """One line of a model server's output (pod log or child process)."""

    model: str
    line: str


@dataclass(frozen=True)
class WatchFrame(Wire, what="frame"):
    """A snapshot of the box for ``autosrectl watch``."""

    at: float
    """When it was taken, epoch seconds."""
    models: list[WatchModel] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    """Recent requests, newest first."""
    connections: list[WatchConnection] = field(default_factory=list)
    gpus: list[WatchGpu] = field(default_factory=list)
    """Empty without a GPU."""
    log: list[LogLine] = field(default_factory=list)
    """The last lines of each running model server's output, oldest first."""


@dataclass(frozen=True)
class WatchLine(Wire, what="watch line"):
    """One line of ``GET /v1/watch``: exactly one of ``frame`` and ``request`` is set."""

    frame: WatchFrame | None = None
    request: RequestRecord | None = None

    def __post_init__(self) -> None:
        if (self.frame is None) == (self.request is None):
            raise SchemaError("watch line: expected exactly one of 'frame' and 'request'")

    def to_json(self) -> dict[str, Any]:
        # Only the key that is set: a reader tells the kinds apart by which key is there.
        return {k: v for k, v in super().to_json().items() if v is not None}


WATCH_INTERVAL_DEFAULT = 1.0
WATCH_INTERVAL_MIN = 0.1
WATCH_INTERVAL_MAX = 60.0


def parse_watch_line(data: object) -> WatchLine | ApiError:
    """One line of a watch stream: a frame, a request event, or an error envelope."""
    d = _obj(data, "watch line")
    if "error" in d:
        return ApiError.from_json(d)
    return WatchLine.from_json(d)


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
class ApiError(Wire, what="error"):
    """The admin API's one error envelope: ``{"error": {"type": ..., "message": ...}}``."""

    type: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"error": super().to_json()}

    @classmethod
    def decode(cls, data: object, what: str) -> Self:
        return super().decode(_obj(data, what).get("error"), what)


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
