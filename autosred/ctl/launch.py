"""What `autosrectl claude` and `autosrectl codex` share: find the client on PATH, find the
daemon's listener, ask it which model names it serves, wake the model with progress on
stderr, then ``exec`` the client.

Progress goes to stderr so that a client's machine-readable stdout (``claude -p
--output-format json``, ``codex exec --json``) stays clean.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO
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

EXIT_NOT_INSTALLED = 127
"""The shell's status for "command not found"."""

TOKEN_ENV = "AUTOSRE_CLIENT_TOKEN"
PLACEHOLDER_TOKEN = "autosred"
"""Sent when no token is given: the clients want some credential, the daemon without client
tokens ignores it. The daemon stores client tokens hashed, so it cannot hand one out."""

HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Launch:
    """What a client is started with."""

    executable: str
    argv: list[str]
    env: dict[str, str]


def find_executable(name: str, env: Mapping[str, str]) -> str | None:
    return shutil.which(name, path=env.get("PATH", os.defpath))


class Prepare(Protocol):
    def __call__(
        self,
        client_args: Sequence[str],
        /,
        *,
        env: Mapping[str, str],
        executable: str,
        ctx: Context,
    ) -> Launch: ...


def run_client(
    command: str, install_hint: str, client_args: Sequence[str], ctx: Context, prepare: Prepare
) -> int:
    """Find the client on PATH (exit 127 with how to install it), prepare, then exec it."""
    env = dict(os.environ)
    executable = find_executable(command, env)
    if executable is None:
        print(f"autosrectl: {install_hint}", file=ctx.err)
        return EXIT_NOT_INSTALLED
    return exec_client(prepare(client_args, env=env, executable=executable, ctx=ctx), ctx)


def exec_client(launch: Launch, ctx: Context) -> int:
    """Become the client (same pid: its signals, terminal and exit status are the user's).
    Returns only when the exec failed."""
    ctx.out.flush()
    ctx.err.flush()
    try:
        os.execvpe(launch.executable, launch.argv, launch.env)
    except OSError as exc:  # removed or not executable since which() found it
        print(f"autosrectl: cannot run {launch.executable}: {exc.strerror or exc}", file=ctx.err)
    return EXIT_NOT_INSTALLED


def options(client_args: Sequence[str]) -> Iterator[str]:
    """The arguments before a ``--`` (after it everything is the prompt)."""
    for arg in client_args:
        if arg == "--":
            return
        yield arg


def daemon_status(client: AdminClient) -> Status:
    try:
        return Status.from_json(client.get("/v1/status"))
    except SchemaError as exc:
        raise DaemonError(0, "bad_response", f"unexpected answer from the daemon: {exc}") from exc


def listener_url(status: Status, *names: str) -> str:
    """The base URL of the first of ``names`` that the daemon reports listening."""
    for name in names:
        address = status.listeners.get(name)
        if address:
            return base_url(address)
    listeners = ", ".join(sorted(status.listeners)) or "none"
    wanted = " or ".join(names)
    raise Failed(f"the daemon reports no {wanted} listener (listeners: {listeners})")


def base_url(address: str) -> str:
    """A listener as a base URL a local client can reach: ``0.0.0.0:8011`` ->
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


def get_json(
    url: str, headers: Mapping[str, str], *, timeout: float = HTTP_TIMEOUT
) -> tuple[int, object]:
    """``GET url`` on the api listener: (status, parsed JSON body) for 200 and 404; a refused
    token or any other status is a Failed that says what to do."""
    status, raw = http_get(url, dict(headers), timeout=timeout)
    if status == 401:
        raise Failed(
            f"{url} refused the client token (HTTP 401): set {TOKEN_ENV} to a token "
            "configured under api.clients"
        )
    if status not in (200, 404):
        snippet = raw.decode(errors="replace").strip()[:200]
        raise Failed(f"{url} answered HTTP {status}: {snippet}")
    try:
        return status, json.loads(raw)
    except ValueError as exc:
        raise Failed(f"{url} did not answer JSON: {exc}") from exc


def model_ids(body: object, url: str) -> list[str]:
    """``data[].id`` of a model list (both the OpenAI and the Anthropic shape have it)."""
    try:
        assert isinstance(body, dict)
        return [str(entry["id"]) for entry in body["data"]]
    except (AssertionError, KeyError, TypeError) as exc:
        raise Failed(f"{url} did not answer a model list: {exc!r}") from exc


def context_window(base_url: str, token: str, model: str) -> int | None:
    """The ``max_model_len`` of the model's card on the api listener (``GET
    /v1/models/{model}``, the daemon resolving aliases), when the recipe states one."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    status, body = get_json(f"{base_url}/v1/models/{quote(model, safe='')}", headers)
    if status != 200 or not isinstance(body, dict):
        return None
    value = body.get("max_model_len")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def http_get(url: str, headers: dict[str, str], *, timeout: float) -> tuple[int, bytes]:
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


def wake_for(
    client: AdminClient, name: str, *, status: Status, user_given: bool, err: TextIO
) -> None:
    """Wake the model ``name`` resolves to. A name of the user's own that the daemon does not
    know (Claude Code's short names like ``opus`` become claude-* ids only inside Claude Code)
    wakes the first model instead; a configured or discovered name must resolve."""
    try:
        wake(client, name, err=err)
        return
    except DaemonError as exc:
        if exc.type != "not_found" or not status.models:
            raise
        if not user_given:
            raise Failed(f"the model name {name!r} names no model of autosred: {exc}") from exc
    first = status.models[0].name
    print(f"autosrectl: autosred knows no model {name!r}; waking {first}", file=err, flush=True)
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
