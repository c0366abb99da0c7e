"""The daemon's settings: one typed root, loaded from a YAML file and ``AUTOSRED_*`` env.

Every group is a pydantic model with ``extra="forbid"`` so a misspelt key stops start-up with a
message that names it. Env overrides the file: ``AUTOSRED_API__LISTEN=0.0.0.0:9000``.
Recipes are kept as raw mappings here and validated by :mod:`autosred.recipes`, which sits a
layer above this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path("/etc/autosred/autosred.yaml")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"10m"``, ``"1.5h"``, ``"250ms"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration (seconds, or a string like '90s', '10m')")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError("expected a duration (seconds, or a string like '90s', '10m')")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A span of time in seconds; accepts ``90``, ``"90s"``, ``"10m"``, ``"1h"``, ``"250ms"``."""


def parse_listen(value: object) -> str:
    """Validate ``host:port`` (``[::1]:8011`` for IPv6); returns it unchanged."""
    if not isinstance(value, str):
        raise ValueError("expected 'host:port'")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected 'host:port', e.g. '127.0.0.1:8011'")
    return value


ListenAddress = Annotated[str, BeforeValidator(parse_listen)]


def split_listen(address: str) -> tuple[str, int]:
    """``"127.0.0.1:8011"`` -> ``("127.0.0.1", 8011)``; brackets around IPv6 hosts removed."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def is_loopback_host(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientToken(Section):
    name: str = Field(min_length=1)
    """Labels the client's requests in logs and metrics."""
    token_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    """SHA-256 (hex) of the token: `printf %s TOKEN | sha256sum`. The token itself is not stored."""


class ApiSettings(Section):
    listen: ListenAddress = "127.0.0.1:8011"
    """Where the API listener binds (Anthropic, OpenAI, Responses, MCP). A non-loopback
    address requires client tokens."""
    clients: list[ClientToken] = []
    """Client tokens; when empty, no token is required (loopback only)."""
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    """Largest request body accepted; larger gets 413."""
    upstream_connect_timeout: Duration = 10.0
    """Seconds to connect to the model server."""
    upstream_read_timeout: Duration = 600.0
    """Seconds the model server may stay silent mid-response before the request fails."""


class CodexSettings(Section):
    listen: ListenAddress | None = "127.0.0.1:8012"
    """A second bind of the API app, the port existing Codex configs use; null disables it."""


class MetricsSettings(Section):
    listen: ListenAddress | None = "127.0.0.1:9464"
    """Prometheus /metrics, /healthz, /readyz; null disables it."""


class ConnectionSettings(Section):
    """Deadlines and a per-peer cap on every TCP listener (api, codex, metrics, dropbox), so
    that slow or numerous connections from one client cannot hold the daemon's descriptors."""

    header_timeout: Duration = Field(default=10.0, gt=0)
    """Seconds from the first byte of a request's head to its end; a client still sending
    its request line and headers after that is disconnected (slow-loris). A TLS handshake
    (the dropbox listener) gets the same time."""
    idle_timeout: Duration = Field(default=120.0, gt=0)
    """Seconds a connection may stay open without a request in progress (before the first
    request, and between keep-alive requests). Longer than the clients' own pool timeouts
    (90 s in Go and Rust clients), so the client is the one that closes an idle connection."""
    max_per_peer: int = Field(default=256, ge=1)
    """Connections one address may hold open at once per listener app (api and codex count
    together); more are closed at once."""


class AdminSettings(Section):
    socket: Path | None = None
    """Unix socket of the admin API. Default: /run/autosred/admin.sock as root, else
    $XDG_RUNTIME_DIR/autosred/admin.sock (or /tmp/autosred-<uid>/admin.sock)."""
    group: str | None = "autosre"
    """Members of this group may use the admin socket (besides root and the daemon's user)."""


class EngineSettings(Section):
    kind: Literal["static", "process", "kubernetes"] = "process"
    """What runs the model servers: static (someone else's URL), process (a child per
    recipe), kubernetes (a k3s Deployment per recipe)."""
    url: str | None = None
    """static: base URL of the OpenAI-compatible server (e.g. http://127.0.0.1:8000)."""
    health_path: str = "/health"
    """Path polled to decide that a model server is ready."""
    health_interval: Duration = 0.25
    """Seconds between health polls while a model server starts."""
    stop_timeout: Duration = 15.0
    """process: seconds between SIGTERM and SIGKILL when stopping a child."""
    host: str = "127.0.0.1"
    """process: the address children bind and the daemon connects to."""
    kubeconfig: Path | None = Path("/etc/rancher/k3s/k3s.yaml")
    """kubernetes: credentials for the API server. When the file does not exist and the
    daemon runs in a pod, the pod's service account is used; null: the service account only."""
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    """kubernetes: the namespace of the models' Deployments and Services."""
    reach: Literal["pod", "service"] = "pod"
    """kubernetes: how the daemon reaches a model server: pod (its pod IP, the default: right
    on a k3s node, and no wait for the Service's endpoints) or service (its ClusterIP)."""
    pod_stop_timeout: Duration = 90.0
    """kubernetes: after scaling to 0, how long a stop waits for the pod to be gone."""
    api_timeout: Duration = 10.0
    """kubernetes: seconds one call to the API server may take."""
    api_retry: Duration = 10.0
    """kubernetes: for how long a call is retried (exponential backoff, honouring
    Retry-After) while the API server is unreachable or answers 429/5xx."""


class ScalerSettings(Section):
    keepalive_after: Duration = 2.0
    """A streaming request held this long gets its 200 and SSE keep-alive comments."""
    keepalive_interval: Duration = 10.0
    """Seconds between keep-alive comments while a streaming request is held."""
    idle_check_interval: Duration = 1.0
    """Upper bound on how late an idle scale-down may happen after its deadline."""
    health_check_interval: Duration = 15.0
    """While a model is up, how often its engine is asked whether the server still runs (a
    crashed server is then marked stopped; an unreachable engine marks it degraded). Nothing
    is polled for a model at zero."""
    gpu_capacity: int | None = Field(default=None, ge=1)
    """GPUs the models share (recipes' gpu.count). null: NVML's device count, or 1 without
    NVML. Waking a model that does not fit switches out the least recently used one."""
    min_residency: Duration = 30.0
    """A model that woke is not switched out for another for at least this long, so two
    clients alternating between models do not thrash; the other model's requests wait."""
    switch_drain_timeout: Duration = 60.0
    """On a switch, the outgoing model's in-flight requests get this long to finish before it
    is stopped regardless."""
    vram_release_timeout: Duration = 60.0
    """After a model stopped, how long a wake waits for its GPU memory to be released before
    giving up (503 with Retry-After)."""


DriftAction = Literal["report", "redeploy"]


class DriftSettings(Section):
    action: DriftAction = "report"
    """When what runs no longer matches its recipe: report (log, metric, `autosrectl drift`),
    or also redeploy it — only once nothing is in flight, never mid-stream."""


class ShutdownSettings(Section):
    grace: Duration = 30.0
    """On SIGTERM, seconds in-flight requests get to finish; a request still running then is
    cancelled (a stream ends with its surface's error event) and the daemon exits."""


SHUTDOWN_MARGIN = 5.0
"""Seconds a stop may take beyond ``shutdown.grace`` (+ ``engine.stop_timeout`` for a process
engine child that ignores SIGTERM): ending the cancelled requests, closing connections and
the engine. The systemd unit's TimeoutStopSec is grace + stop_timeout + this, rounded up."""


class FetchSettings(Section):
    """The `fetch` MCP tool: pages fetched for the model, guarded against server-side request
    forgery."""

    enabled: bool = True
    allow: list[str] = []
    """CIDRs (``10.1.0.0/16``, ``::1/128``) or host names opened past the SSRF guard, which
    otherwise refuses loopback, link-local, private, shared, multicast, reserved and
    unspecified addresses (and their IPv6 forms)."""
    impersonate: str = "chrome"
    """The browser whose TLS and HTTP/2 fingerprint curl_cffi presents (``chrome``, a version
    such as ``chrome136``, ``safari``, ``firefox``…)."""
    max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    """Largest body downloaded; a larger page is refused with its size named."""
    timeout: Duration = Field(default=30.0, gt=0)
    """Seconds one fetch may take in all, redirects included."""
    max_redirects: int = Field(default=10, ge=0)
    robots: bool = True
    """Honour robots.txt for model-initiated fetches (RFC 9309)."""
    user_agent: str | None = None
    """The User-Agent sent; null: the impersonated browser's own."""
    ca_bundle: str | None = None
    """A PEM file of the CAs that HTTPS pages are verified against, instead of the system's
    (a private CA; the tests' own); null: the system's."""


class SearchSettings(Section):
    """The `search` MCP tool."""

    enabled: bool = True
    backend: Literal["ddgs", "searxng"] = "ddgs"
    """``ddgs``: the ddgs metasearch library (queries go to its engines); ``searxng``: a
    self-hosted SearXNG's JSON API (no query leaves your network)."""
    searxng_url: str | None = None
    """Base URL of the SearXNG instance; the daemon calls ``GET {url}/search?q=…&format=json``."""
    ddgs_backends: list[str] = ["auto"]
    """The engines ddgs asks (``auto``, or names such as ``duckduckgo``, ``brave``,
    ``mojeek``); a name this ddgs does not have is left out, with a warning."""
    per_minute: int = Field(default=30, ge=1)
    """Searches the daemon makes per minute, all clients together; more are refused with a
    retry hint."""
    timeout: Duration = Field(default=15.0, gt=0)
    """Seconds one search may take. A search still running when the daemon stops holds its
    exit until then (ddgs runs on threads), so keep it within ``shutdown.grace``."""
    proxy: str | None = None
    """The proxy ddgs reaches its engines through (``http://``, ``https://``, ``socks5://`` or
    ``socks5h://`` URL, credentials allowed); null: direct (or ddgs's ``DDGS_PROXY``
    environment variable). A SearXNG instance is always reached directly."""
    ca_file: Path | None = None
    """A PEM file of the certificate authorities the search backend trusts for TLS: a
    TLS-inspecting proxy's CA, or the one that signed your SearXNG's certificate. It takes
    the place of the system's store (so list every CA needed); null: the system's."""

    @field_validator("searxng_url")
    @classmethod
    def _searxng_base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            raise ValueError(
                "expected the instance's base URL, e.g. 'http://127.0.0.1:8888' or "
                "'https://search.example/searxng'"
            )
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?|socks5h?)://[^/\s]+/?$", value):
            raise ValueError(
                "expected a proxy URL such as 'http://proxy:3128' or 'socks5h://127.0.0.1:1080'"
            )
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file_readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _searxng_needs_url(self) -> SearchSettings:
        if self.enabled and self.backend == "searxng" and not self.searxng_url:
            raise ValueError("backend 'searxng' needs searxng_url")
        return self


class CapabilitiesSettings(Section):
    """The `capabilities` MCP tool server: autosrectl's own commands as tools."""

    enabled: bool = True
    allow: list[str] = []
    """Commands that change state (``scale``, ``models_switch``, ``reload``…) exposed as tools;
    read-only commands always are."""


class BrowserSettings(Section):
    """The `browser` MCP tool server: a headless Chromium driven over the DevTools protocol,
    acted on through accessibility snapshots with element refs."""

    enabled: bool = False
    launch: str | None = "chromium"
    """The Chromium the daemon starts as its own child: a path, or a command name looked up
    in PATH (``chromium``). Ignored when ``cdp_url`` is set."""
    cdp_url: str | None = None
    """A running browser's DevTools endpoint (``ws://…`` or ``http://…``; a browserless
    pod, any CDP endpoint) used instead of a local child."""
    idle_timeout: Duration = Field(default=300.0, gt=0)
    """Seconds without a browser call after which the browser is stopped (a remote one is
    disconnected); the next call starts it again. A session's own context is closed after
    the same time without a call."""
    allow_evaluate: bool = False
    """Offer ``evaluate(js)``, which runs the model's JavaScript in the page."""
    allow: list[str] = []
    """CIDRs or host names the browser may reach past the address guard (as
    ``mcp.fetch.allow``), which otherwise refuses loopback, link-local, private and
    reserved addresses for every request a page makes."""
    action_timeout: Duration = Field(default=15.0, gt=0)
    """Seconds one action (navigation included) may take before it is answered as failed."""
    start_timeout: Duration = Field(default=30.0, gt=0)
    """Seconds the browser may take to start (or the CDP endpoint to answer)."""
    max_text_chars: int = Field(default=20_000, ge=1000)
    """Most characters of page text (a snapshot) returned to the model in one answer."""
    max_screenshot_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)
    """Largest screenshot returned; a larger PNG is sent as a JPEG, smaller until it fits."""
    max_sessions: int = Field(default=16, ge=1)
    """Browser contexts (one per MCP session) open at once; the least recently used beyond
    it is closed."""
    files_max: int = Field(default=100, ge=1)
    """Saved PDFs and screenshots kept (under state_dir/browser/files); the oldest go first."""
    files_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    """Most bytes the saved files take in all; the oldest go first."""
    viewport: tuple[int, int] = (1280, 800)
    """Each context's viewport, width and height in CSS pixels."""
    busy_interval: Duration = Field(default=1.0, ge=0)
    """While model requests are in flight, browser actions (over all sessions) start at
    least this many seconds apart; 0: never spaced. An agent's own calls come a model turn
    apart and never wait; a burst of scripted actions is what would slow other agents'
    streams, as no process priority keeps a busy browser from doing."""
    nice: int = Field(default=10, ge=0, le=19)
    """The CPU priority (Linux nice value) of Playwright's driver and of the Chromium it
    launches, so that a browsing agent yields the CPU to the model streams on a busy host;
    0 keeps the daemon's own."""
    guard_listen: str = "127.0.0.1"
    """The address the daemon's per-context guard proxy (SOCKS5, which checks every
    connection a page makes) listens on: loopback for a local child; an address the remote
    browser reaches for ``cdp_url``."""

    @field_validator("cdp_url")
    @classmethod
    def _cdp_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(wss?|https?)://[^/\s]+(/\S*)?$", value):
            raise ValueError(
                "expected a DevTools endpoint such as 'ws://127.0.0.1:3000' or "
                "'http://browserless:3000'"
            )
        return value

    @model_validator(mode="after")
    def _has_a_browser(self) -> BrowserSettings:
        if self.enabled and self.cdp_url is None and not self.launch:
            raise ValueError("enabled needs launch (a Chromium binary) or cdp_url")
        return self


class McpSettings(Section):
    """MCP tool servers on the api listener, at ``/mcp/<name>`` (Streamable HTTP)."""

    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    """Largest MCP request body accepted; larger gets 413."""
    allowed_hosts: list[
        Annotated[str, Field(pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?$")]
    ] = []
    """Further names the MCP endpoints answer to in Host and Origin (DNS-rebinding guard),
    each ``name`` (with the listener's port) or ``name:port``. Always allowed: the address a
    connection arrived on and the listener's configured host, and on loopback ``localhost``,
    ``127.0.0.1`` and ``[::1]``; anything else gets 421 (Host) or 403 (Origin)."""
    fetch: FetchSettings = FetchSettings()
    search: SearchSettings = SearchSettings()
    capabilities: CapabilitiesSettings = CapabilitiesSettings()
    browser: BrowserSettings = BrowserSettings()


class HostedToolSettings(Section):
    """One of the hosted web tools the daemon runs for the model when a client's request
    offers it (Anthropic ``web_search_*`` / ``web_fetch_*``, Codex's ``web_search``)."""

    enabled: bool | None = None
    """null: on when the matching MCP server (``mcp.search`` / ``mcp.fetch``) is enabled, whose
    backend and guard it shares; true or false: on or off regardless."""
    max_uses: int = Field(default=5, ge=1)
    """Calls of the tool one request may make; a client's own ``max_uses`` can only lower it.
    Further calls are answered ``max_uses_exceeded``."""

    def effective(self, *, server_enabled: bool) -> bool:
        """Whether the tool runs, given whether its MCP server is enabled."""
        return server_enabled if self.enabled is None else self.enabled


class HostedToolsSettings(Section):
    """Hosted tools: the client's request names the tool, the model calls it, and the daemon
    runs it inside the same request (with the MCP servers' search backend and fetch guard)."""

    web_search: HostedToolSettings = HostedToolSettings()
    """Searches share ``mcp.search``'s backend and its per-minute limit. 5 a request: the
    search loop's usual depth (a query, two refinements, a follow-up or two), and a sixth of
    the default per-minute limit, so one request cannot spend the daemon's whole minute."""
    web_fetch: HostedToolSettings = HostedToolSettings()
    """Fetches use ``mcp.fetch``'s guard, limits and CA settings. 5 a request: each may take
    ``mcp.fetch.timeout`` (30 s) and ``max_bytes``, so a request's fetching stays within a few
    minutes and its context within a few pages."""


class DropboxTlsSettings(Section):
    """The dropbox listener's TLS: the daemon terminates it (TLS 1.2 and later)."""

    cert: Path | None = None
    """A PEM certificate (chain) to serve; with ``key``. null: a self-signed P-256 certificate
    the daemon makes on first start under state_dir (dropbox/tls/) and keeps across restarts;
    `autosrectl dropbox cert` shows its fingerprint. SIGHUP re-reads it."""
    key: Path | None = None
    """The PEM private key of ``cert``; both or neither."""
    hostnames: list[str] = []
    """The names and addresses the self-signed certificate is made for (its SANs); empty: the
    host's name and the listen address. Ignored when ``cert`` is given."""
    client_ca: Path | None = None
    """A PEM file of CAs: when set, every client must present a certificate they signed (mTLS);
    null: no client certificate is asked for."""

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> DropboxTlsSettings:
        if (self.cert is None) != (self.key is None):
            raise ValueError("set both cert and key, or neither (a self-signed one is made)")
        return self


class DropboxSettings(Section):
    """The HTTPS file dropbox: its own TLS listener, beside the API's."""

    enabled: bool = False
    listen: ListenAddress = "127.0.0.1:8443"
    """Where the dropbox's HTTPS listener binds (the connections section's deadlines and
    per-peer cap apply to it too)."""
    root: Path | None = None
    """Where the dropbox keeps its files; null: dropbox/ under state_dir."""
    max_size: int = Field(default=10 * 1024**3, gt=0)
    """Largest file accepted, in bytes (tus ``Tus-Max-Size``)."""
    upload_expiry: Duration = Field(default=24 * 3600.0, gt=0)
    """How long an unfinished upload is kept after its creation (tus ``Upload-Expires``);
    then it is removed and its id answers 410."""
    body_idle_timeout: Duration = Field(default=30.0, gt=0)
    """Seconds an upload's body may send nothing before the dropbox cuts it; what was written
    before is kept, and the upload resumes from there (HEAD tells the offset). A download
    whose reader takes nothing for as long is cut too."""
    busy_rate: int = Field(default=24 * 1024**2, ge=0)
    """Bytes a second that all transfers together may move while model requests are in
    flight (0: no limit); at full speed otherwise. A bulk transfer slows model streams
    through the kernel and the shared caches, which no process priority reaches: this is what
    keeps them unaffected."""
    tls: DropboxTlsSettings = DropboxTlsSettings()


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "text"] = "auto"
    """auto: JSON lines when stderr is not a terminal, readable text when it is."""


class Settings(BaseSettings):
    """The root of ``autosred.yaml``. Every key is documented in etc/autosred/autosred.yaml."""

    model_config = SettingsConfigDict(
        env_prefix="AUTOSRED_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    api: ApiSettings = ApiSettings()
    codex: CodexSettings = CodexSettings()
    metrics: MetricsSettings = MetricsSettings()
    admin: AdminSettings = AdminSettings()
    connections: ConnectionSettings = ConnectionSettings()
    engine: EngineSettings = EngineSettings()
    scaler: ScalerSettings = ScalerSettings()
    drift: DriftSettings = DriftSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    log: LogSettings = LogSettings()
    mcp: McpSettings = McpSettings()
    hosted_tools: HostedToolsSettings = HostedToolsSettings()
    dropbox: DropboxSettings = DropboxSettings()
    state_dir: Path | None = None
    """Persistent state (wake history). Default: /var/lib/autosred as root, else
    $XDG_STATE_HOME/autosred (or ~/.local/state/autosred)."""
    recipes: list[dict[str, Any]] = []
    """Inline recipes (see recipes.d/ for the keys)."""
    recipes_dir: Path | None = Path("/etc/autosred/recipes.d")
    """A directory of *.yaml recipe files, read in name order after the inline ones; a
    directory that does not exist holds no recipes."""

    @field_validator("recipes", mode="before")
    @classmethod
    def _recipes_are_mappings(cls, value: object) -> object:
        if value is None:
            return []
        return value

    @model_validator(mode="after")
    def _hosted_search_has_a_backend(self) -> Settings:
        # mcp.search checks its SearXNG URL only while the MCP server is on; the hosted tool
        # uses the same backend settings, so it needs the same check when it runs alone.
        search = self.mcp.search
        if (
            self.hosted_web_search_enabled()
            and search.backend == "searxng"
            and not search.searxng_url
        ):
            raise ValueError(
                "hosted_tools.web_search is on and mcp.search.backend is 'searxng': "
                "set mcp.search.searxng_url"
            )
        return self

    def hosted_web_search_enabled(self) -> bool:
        """Whether the daemon runs the hosted ``web_search`` tool."""
        return self.hosted_tools.web_search.effective(server_enabled=self.mcp.search.enabled)

    def hosted_web_fetch_enabled(self) -> bool:
        """Whether the daemon runs the hosted ``web_fetch`` tool."""
        return self.hosted_tools.web_fetch.effective(server_enabled=self.mcp.fetch.enabled)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; env must win over it.
        return (env_settings, init_settings)

    def resolved_state_dir(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir
        if os.geteuid() == 0:
            return Path("/var/lib/autosred")
        xdg = os.environ.get("XDG_STATE_HOME")
        base = Path(xdg) if xdg else Path.home() / ".local" / "state"
        return base / "autosred"


class ConfigError(Exception):
    """The configuration cannot be used; ``messages`` name the file, the key and what is wrong."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def describe_validation_error(
    error: ValidationError, *, source: str, prefix: str = ""
) -> list[str]:
    """One line per problem: ``FILE: api.listen: expected 'host:port' (got 'x')``."""
    lines = []
    for item in error.errors():
        key = prefix + ".".join(str(part) for part in item["loc"]) if item["loc"] else prefix
        key = key.rstrip(".") or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif "input" in item and not isinstance(item["input"], dict | list):
            message = f"{message} (got {item['input']!r})"
        lines.append(f"{source}: {key}: {message}")
    return lines


def read_yaml_mapping(path: Path, *, empty: str | None = None) -> dict[str, Any]:
    """The mapping at the top of ``path``. An empty file (or a bare ``null``) is an empty
    mapping, unless ``empty`` says why that is refused (it is then the error's message)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from exc
    if data is None:
        if empty is not None:
            raise ConfigError([f"{path}: {empty}"])
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping of settings at the top level"])
    return data


EMPTY_CONFIG = (
    "the file is empty (or only null): it holds no settings and no models, which is more "
    "likely a truncated or wrongly copied file than a wish; write `{}` to run on the defaults"
)
"""Why an empty configuration is refused: at start the daemon would serve no models, and on
reload it would stop every running one."""


def load_settings(
    path: Path, *, data: Mapping[str, Any] | None = None, source: str | None = None
) -> Settings:
    """Settings from ``path`` (or from ``data`` read elsewhere) overlaid by ``AUTOSRED_*`` env."""
    raw = dict(data) if data is not None else read_yaml_mapping(path, empty=EMPTY_CONFIG)
    try:
        return Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source=source or str(path))) from exc
