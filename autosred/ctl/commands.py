"""The autosrectl commands that talk to the daemon's admin API.

Each takes the parsed arguments and a Context and returns the exit status; errors the user
must see are raised (client.Unreachable, client.DaemonError, Failed) and turned into one
stderr line and an exit status by main.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar
from urllib.parse import quote

from autosred.admin.schema import (
    PACKAGE_VERSION,
    ApiError,
    ModelList,
    Progress,
    ReloadResult,
    ScaleDone,
    ScaleRequest,
    SchemaError,
    Status,
    VersionInfo,
    parse_scale_line,
)
from autosred.ctl.client import AdminClient, DaemonError, Unreachable
from autosred.ctl.render import duration, models_view, progress_line, status_view

if TYPE_CHECKING:
    from autosred.ctl.progress import ProgressView

_T = TypeVar("_T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class Failed(Exception):
    """The command ran but the outcome is a failure (exit 1); the message says why."""


@dataclass(frozen=True)
class Context:
    socket: Path
    json: bool
    out: TextIO
    err: TextIO

    def client(self) -> AdminClient:
        return AdminClient(self.socket)

    def print_json(self, body: dict[str, Any], *, indent: int | None = 2) -> None:
        print(json.dumps(body, indent=indent, ensure_ascii=False), file=self.out, flush=True)


def _parse(from_json: Callable[[object], _T], data: object) -> _T:
    """Schema errors mean the daemon speaks another version of the API: say so, exit 1."""
    try:
        return from_json(data)
    except SchemaError as exc:
        raise DaemonError(0, "bad_response", f"unexpected answer from the daemon: {exc}") from exc


def status(args: argparse.Namespace, ctx: Context) -> int:
    result = _parse(Status.from_json, ctx.client().get("/v1/status"))
    if ctx.json:
        ctx.print_json(result.to_json())
    else:
        print(status_view(result), file=ctx.out)
    return EXIT_OK


def models(args: argparse.Namespace, ctx: Context) -> int:
    action: str = getattr(args, "action", "list")
    if action == "switch":
        args.direction = "switch"
        return scale(args, ctx)
    route = "/v1/running" if action == "running" else "/v1/models"
    result = _parse(ModelList.from_json, ctx.client().get(route))
    if ctx.json:
        ctx.print_json(result.to_json())
    else:
        print(models_view(result.models), file=ctx.out)
    return EXIT_OK


def version(args: argparse.Namespace, ctx: Context) -> int:
    if not ctx.json:
        # The client's own version is worth showing even when the daemon is not there.
        print(f"autosrectl {PACKAGE_VERSION}", file=ctx.out, flush=True)
    daemon = _parse(VersionInfo.from_json, ctx.client().get("/v1/version"))
    if ctx.json:
        ctx.print_json({"client": PACKAGE_VERSION, "daemon": daemon.version})
    else:
        print(f"autosred {daemon.version} (admin API {daemon.api_version})", file=ctx.out)
    return EXIT_OK


def reload(args: argparse.Namespace, ctx: Context) -> int:
    result = _parse(ReloadResult.from_json, ctx.client().post("/v1/reload", {}))
    if ctx.json:
        ctx.print_json(result.to_json())
    elif result.ok:
        for message in result.messages:
            print(message, file=ctx.out)
        print(f"reloaded; models: {', '.join(result.models) or 'none'}", file=ctx.out)
    if not result.ok:
        reasons = "; ".join(result.messages) or "no reason given"
        raise Failed(f"the new config was rejected, the old one stays in force: {reasons}")
    return EXIT_OK


def scale(args: argparse.Namespace, ctx: Context) -> int:
    model: str = args.model
    route = f"/v1/models/{quote(model, safe='')}/scale"
    request = ScaleRequest(direction=args.direction, wait=args.wait)
    client = ctx.client()
    if not request.wait:
        progress = _parse(Progress.from_json, client.post(route, request.to_json()))
        if ctx.json:
            ctx.print_json(progress.to_json())
        else:
            print(progress_line(progress), file=ctx.out)
        return EXIT_OK
    try:
        return _follow(client.stream(route, request.to_json()), model, ctx)
    except KeyboardInterrupt:
        going = "scale-down" if request.direction == "down" else "wake"
        print(f"autosrectl: stopped waiting; the {going} of {model} goes on", file=ctx.err)
        return EXIT_INTERRUPTED


def _follow(records: Iterator[object], model: str, ctx: Context) -> int:
    """Show a scale stream; exit 0 on the final ok line, raise on an error line."""
    final: ScaleDone | ApiError | None = None
    with _view(ctx) as view:
        for record in records:
            line = _parse(parse_scale_line, record)
            if ctx.json:
                # Passed through as NDJSON, one record per line, for scripts.
                ctx.print_json(line.to_json(), indent=None)
            if isinstance(line, Progress):
                view.update(line)
            else:
                final = line
                break
    if final is None:
        raise Unreachable(f"lost connection to autosred at {ctx.socket} before {model} was done")
    if isinstance(final, ApiError):
        raise DaemonError(200, final.type, final.message)
    if not ctx.json:
        waited = duration(final.elapsed_seconds)
        print(f"{final.model}: {final.state} (waited {waited})", file=ctx.out)
    return EXIT_OK


def _view(ctx: Context) -> ProgressView:
    # Progress display lives in its own module so that rich is only imported for a terminal.
    from autosred.ctl.progress import QuietProgress, progress_view

    return QuietProgress() if ctx.json else progress_view(ctx.out)
