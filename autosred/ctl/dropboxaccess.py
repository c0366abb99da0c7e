"""``autosrectl dropbox token|share|ls|rm``: the dropbox's tokens, share links and files,
through the admin API (the admin socket's group is who may manage them)."""

from __future__ import annotations

import argparse
import json
import time
from urllib.parse import quote

from autosred.admin.schema import (
    DropboxFile,
    DropboxFileList,
    DropboxShare,
    DropboxShareRequest,
    DropboxToken,
    DropboxTokenCreated,
    DropboxTokenList,
    DropboxTokenRequest,
)
from autosred.ctl.commands import EXIT_OK, Context, _parse
from autosred.ctl.render import DASH, table
from autosred.ctl.units import format_size


def token_create(args: argparse.Namespace, ctx: Context) -> int:
    """The new token alone on its line: it is shown this once (only its hash is kept)."""
    request = DropboxTokenRequest(
        name=args.name,
        max_bytes=args.quota,
        max_files=args.max_files,
        expires_seconds=args.expires,
        read_only=args.read_only,
    )
    answer = _parse(
        DropboxTokenCreated.from_json, ctx.client().post("/v1/dropbox/tokens", request.to_json())
    )
    if ctx.json:
        ctx.print_json(answer.to_json())
    else:
        print(answer.token, file=ctx.out, flush=True)
        if ctx.err.isatty():
            print("(shown once: the daemon keeps only its hash)", file=ctx.err)
    return EXIT_OK


def token_ls(args: argparse.Namespace, ctx: Context) -> int:
    answer = _parse(DropboxTokenList.from_json, ctx.client().get("/v1/dropbox/tokens"))
    if ctx.json:
        ctx.print_json(answer.to_json())
        return EXIT_OK
    if not answer.tokens:
        print("no dropbox tokens (autosrectl dropbox token create NAME)", file=ctx.out)
        return EXIT_OK
    rows = [_token_row(token) for token in answer.tokens]
    headers = ("NAME", "STATE", "ACCESS", "QUOTA", "FILES", "CREATED", "EXPIRES")
    print(table(headers, rows, right={3, 4}), file=ctx.out)
    return EXIT_OK


def _token_row(token: DropboxToken) -> list[str]:
    return [
        token.name,
        token.state,
        "read-only" if token.read_only else "read-write",
        DASH if token.max_bytes is None else format_size(token.max_bytes),
        DASH if token.max_files is None else str(token.max_files),
        _when(token.created),
        DASH if token.expires is None else _when(token.expires),
    ]


def token_revoke(args: argparse.Namespace, ctx: Context) -> int:
    route = "/v1/dropbox/tokens/" + quote(args.name, safe="")
    answer = _parse(DropboxToken.from_json, ctx.client().delete(route))
    if ctx.json:
        ctx.print_json(answer.to_json())
    else:
        print(f"revoked {answer.name}", file=ctx.out)
    return EXIT_OK


def share(args: argparse.Namespace, ctx: Context) -> int:
    """The share URL alone on its line (its secret is shown this once)."""
    request = DropboxShareRequest(
        id=args.id, expires_seconds=args.expires, max_downloads=args.max_downloads
    )
    answer = _parse(
        DropboxShare.from_json, ctx.client().post("/v1/dropbox/shares", request.to_json())
    )
    if ctx.json:
        ctx.print_json(answer.to_json())
    else:
        print(answer.url, file=ctx.out, flush=True)
    return EXIT_OK


def ls(args: argparse.Namespace, ctx: Context) -> int:
    """``--json``: a list of {id, name, size, sha256, complete, owner}."""
    answer = _parse(DropboxFileList.from_json, ctx.client().get("/v1/dropbox/files"))
    if ctx.json:
        listing = [entry.to_json() for entry in answer.files]
        print(json.dumps(listing, indent=2, ensure_ascii=False), file=ctx.out, flush=True)
        return EXIT_OK
    if not answer.files:
        print("the dropbox is empty", file=ctx.out)
        return EXIT_OK
    rows = [_file_row(entry) for entry in answer.files]
    print(table(("ID", "NAME", "SIZE", "STATE", "OWNER"), rows, right={2}), file=ctx.out)
    return EXIT_OK


def _file_row(entry: DropboxFile) -> list[str]:
    return [
        entry.id,
        DASH if entry.name is None else printable(entry.name),
        format_size(entry.size),
        "complete" if entry.complete else "uploading",
        entry.owner,
    ]


def rm(args: argparse.Namespace, ctx: Context) -> int:
    route = "/v1/dropbox/files/" + quote(args.id, safe="")
    answer = _parse(DropboxFile.from_json, ctx.client().delete(route))
    if ctx.json:
        ctx.print_json(answer.to_json())
    else:
        print(f"removed {answer.id}", file=ctx.out)
    return EXIT_OK


def printable(text: str) -> str:
    """A user-given name as a terminal shows it safely: what is not printable (bidi
    overrides, zero-width marks) escaped, so a name cannot disguise itself or the columns."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else DASH
