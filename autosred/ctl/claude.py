"""`autosrectl claude [CLAUDE ARGS…]`: wake the model, then become Claude Code pointed at autosred.

Steps, each with a clear failure:

1. find `claude` on PATH (else exit 127 with how to install it); nothing is woken before that;
2. ask the daemon (admin socket) for its api listener;
3. pick the model label: the user's own ``--model``, else ``$AUTOSRE_CLAUDE_LABEL``, else the
   first ``claude-*`` id that the api listener's ``/v1/models`` lists (Anthropic shape);
4. wake the model that label resolves to (the daemon resolves it, globs and ``claude_label``
   included), showing progress on stderr like ``scale up --wait``;
5. ``exec`` Claude Code with ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN, the label as
   ``--model`` (unless the user gave one) and CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1; the
   user's arguments follow untouched.

The daemon stores client tokens hashed, so it cannot hand one out: the token comes from
``$AUTOSRE_CLIENT_TOKEN``, else a placeholder (fine while no client tokens are configured).
Progress goes to stderr so that ``autosrectl claude -p … --output-format json`` keeps a clean
stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote, urlsplit

from autosred.admin.schema import (
    ApiError,
    Progress,
    ScaleRequest,
    SchemaError,
    Status,
    parse_scale_line,
)
from autosred.ctl.client import AdminClient, DaemonError, Unreachable
from autosred.ctl.commands import Context, Failed
from autosred.ctl.render import duration

if TYPE_CHECKING:
    from autosred.ctl.progress import ProgressView

CLAUDE = "claude"
EXIT_NOT_INSTALLED = 127
"""The shell's status for "command not found"."""

LABEL_ENV = "AUTOSRE_CLAUDE_LABEL"
NONESSENTIAL_ENV = "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"
"""No update checks, telemetry or other calls to Anthropic's own hosts."""
TOKEN_ENV = "AUTOSRE_CLIENT_TOKEN"
PLACEHOLDER_TOKEN = "autosred"
"""Sent when no token is given: Claude Code wants some credential, the daemon without client
tokens ignores it."""

ANTHROPIC_VERSION = "2023-06-01"
LABEL_PREFIX = "claude-"
MODELS_TIMEOUT = 10.0

INSTALL_HINT = (
    "Claude Code is not installed (no `claude` on PATH); install it with\n"
    "  npm install -g @anthropic-ai/claude-code\n"
    "(or put its directory on PATH), then run `autosrectl claude` again"
)

# Variables that would send Claude Code somewhere else than autosred, or send the user's
# Anthropic key to it (and make interactive Claude Code ask whether to use that key).
_DROPPED_ENV = (
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
)

# Claude Code arguments that only print something: no need to wake a model for them.
_INFO_ARGS = frozenset({"-h", "--help", "-v", "--version"})


@dataclass(frozen=True)
class Launch:
    """What Claude Code is started with."""

    executable: str
    argv: list[str]
    env: dict[str, str]


def claude(args: argparse.Namespace, ctx: Context) -> int:
    claude_args: list[str] = list(args.claude_args)
    env = dict(os.environ)
    executable = shutil.which(CLAUDE, path=env.get("PATH", os.defpath))
    if executable is None:
        print(f"autosrectl: {INSTALL_HINT}", file=ctx.err)
        return EXIT_NOT_INSTALLED
    launch = prepare(claude_args, env=env, executable=executable, ctx=ctx)
    ctx.out.flush()
    ctx.err.flush()
    try:
        os.execvpe(launch.executable, launch.argv, launch.env)
    except OSError as exc:  # removed or not executable since which() found it
        print(f"autosrectl: cannot run {launch.executable}: {exc.strerror or exc}", file=ctx.err)
        return EXIT_NOT_INSTALLED


def prepare(
    claude_args: Sequence[str], *, env: Mapping[str, str], executable: str, ctx: Context
) -> Launch:
    """Everything but the exec: ask the daemon, pick the label, wake the model."""
    if any(arg in _INFO_ARGS for arg in _options(claude_args)):
        # `autosrectl claude --version`: nothing to wake, no daemon needed.
        return Launch(executable, [CLAUDE, *claude_args], {**env, NONESSENTIAL_ENV: "1"})
    client = ctx.client()
    status = _status(client)
    api = status.listeners.get("api")
    if not api:
        listeners = ", ".join(sorted(status.listeners)) or "none"
        raise Failed(f"the daemon reports no api listener (listeners: {listeners})")
    base_url = api_base_url(api)
    token = env.get(TOKEN_ENV) or PLACEHOLDER_TOKEN
    user_model = model_option(claude_args)
    label = user_model or env.get(LABEL_ENV) or discover_label(base_url, token)
    _wake_for(client, label, status=status, user_given=user_model is not None, err=ctx.err)
    argv = [CLAUDE]
    if user_model is None:
        argv += ["--model", label]
    argv += claude_args
    return Launch(executable=executable, argv=argv, env=claude_env(env, base_url, token))


def claude_env(env: Mapping[str, str], base_url: str, token: str) -> dict[str, str]:
    result = {key: value for key, value in env.items() if key not in _DROPPED_ENV}
    result["ANTHROPIC_BASE_URL"] = base_url
    result["ANTHROPIC_AUTH_TOKEN"] = token
    result[NONESSENTIAL_ENV] = "1"
    return result


def _options(claude_args: Sequence[str]) -> Iterator[str]:
    """The arguments before a ``--`` (after it everything is the prompt)."""
    for arg in claude_args:
        if arg == "--":
            return
        yield arg


def model_option(claude_args: Sequence[str]) -> str | None:
    """The value of the user's ``--model X`` / ``--model=X`` (the last one wins), if any."""
    found: str | None = None
    options = list(_options(claude_args))
    for index, arg in enumerate(options):
        if arg == "--model" and index + 1 < len(options):
            found = options[index + 1]
        elif arg.startswith("--model="):
            found = arg.partition("=")[2]
    return found or None


def api_base_url(address: str) -> str:
    """The api listener as a base URL a local client can reach: ``0.0.0.0:8011`` ->
    ``http://127.0.0.1:8011`` (a wildcard bind is reached over loopback)."""
    if "://" in address:
        return address.rstrip("/")
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def discover_label(base_url: str, token: str, *, timeout: float = MODELS_TIMEOUT) -> str:
    """The first ``claude-*`` id of ``GET {base_url}/v1/models`` (asked in the Anthropic
    shape, one page of up to 1000 like Claude Code's own model discovery; both shapes list
    ``data[].id``)."""
    url = f"{base_url}/v1/models?limit=1000"
    headers = {
        "anthropic-version": ANTHROPIC_VERSION,
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
    }
    status, raw = _http_get(url, headers, timeout=timeout)
    if status == 401:
        raise Failed(
            f"{url} refused the client token (HTTP 401): set {TOKEN_ENV} to a token "
            "configured under api.clients"
        )
    if status != 200:
        snippet = raw.decode(errors="replace").strip()[:200]
        raise Failed(f"{url} answered HTTP {status}: {snippet}")
    try:
        body = json.loads(raw)
        ids = [str(entry["id"]) for entry in body["data"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise Failed(f"{url} did not answer a model list: {exc}") from exc
    for model_id in ids:
        if model_id.startswith(LABEL_PREFIX):
            return model_id
    listed = ", ".join(ids) or "none"
    raise Failed(
        f"no claude-* model name on {url} (listed: {listed}); set {LABEL_ENV}, pass "
        "--model, or give a recipe a claude_label"
    )


def _http_get(url: str, headers: dict[str, str], *, timeout: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = connection_class(host, parts.port, timeout=timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise Unreachable(f"cannot reach autosred's api listener at {url}: {reason}") from exc
    finally:
        conn.close()


def _status(client: AdminClient) -> Status:
    try:
        return Status.from_json(client.get("/v1/status"))
    except SchemaError as exc:
        raise DaemonError(0, "bad_response", f"unexpected answer from the daemon: {exc}") from exc


def _wake_for(
    client: AdminClient, label: str, *, status: Status, user_given: bool, err: TextIO
) -> None:
    """Wake the model ``label`` resolves to. A name of the user's own that the daemon does not
    know (Claude Code's short names like ``opus`` become claude-* ids only inside Claude Code)
    wakes the first model instead; a configured or discovered label must resolve."""
    try:
        wake(client, label, err=err)
        return
    except DaemonError as exc:
        if exc.type != "not_found" or not status.models:
            raise
        if not user_given:
            raise Failed(f"the model label {label!r} names no model of autosred: {exc}") from exc
    first = status.models[0].name
    print(f"autosrectl: autosred knows no model {label!r}; waking {first}", file=err, flush=True)
    wake(client, first, err=err)


def wake(client: AdminClient, model: str, *, err: TextIO) -> None:
    """``scale up --wait`` with the progress on ``err``; silent when the model is ready."""
    route = f"/v1/models/{quote(model, safe='')}/scale"
    records = client.stream(route, ScaleRequest(direction="up", wait=True).to_json())
    view = _LazyView(err)
    try:
        for record in records:
            try:
                line = parse_scale_line(record)
            except SchemaError as exc:
                raise DaemonError(0, "bad_response", f"unexpected answer: {exc}") from exc
            if isinstance(line, ApiError):
                raise DaemonError(200, line.type, line.message)
            if isinstance(line, Progress):
                if not (view.idle and line.state == "ready"):
                    view.update(line)
                continue
            view.close()
            if not view.idle:
                waited = duration(line.elapsed_seconds)
                print(f"{line.model}: {line.state} (waited {waited})", file=err, flush=True)
            return
    finally:
        view.close()
    raise Unreachable(f"lost connection to autosred before {model} was ready")


class _LazyView:
    """The progress display, opened at the first line worth showing: a model that is
    already ready shows nothing at all."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._view: ProgressView | None = None
        self.idle = True
        """No progress shown yet."""

    def update(self, progress: Progress) -> None:
        if self._view is None:
            # rich is imported only for a terminal, and only when there is a wake to show.
            from autosred.ctl.progress import progress_view

            self._view = progress_view(self._err).__enter__()
        self.idle = False
        self._view.update(progress)

    def close(self) -> None:
        if self._view is not None:
            self._view.__exit__(None, None, None)
            self._view = None
