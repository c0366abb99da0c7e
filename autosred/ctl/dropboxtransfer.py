"""``autosrectl dropbox put`` and ``get``: files to and from the dropbox over HTTPS.

The admin socket gives what a transfer needs (the dropbox's URL, its certificate and a
short-lived token); the bytes go over the dropbox's own TLS listener with that certificate
pinned (dropboxtls), never through the admin socket. A put resumes: the upload's URL is kept
per file (dropboxresume) until the dropbox has it all and its sha256 matches ours. A get
writes PATH.part, resumes it with Range, and renames it once its sha256 is the file's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from autosred.admin.schema import DropboxSession
from autosred.ctl.client import Unreachable
from autosred.ctl.commands import EXIT_INTERRUPTED, EXIT_OK, Context, Failed, _parse
from autosred.ctl.dropboxresume import FileKey, ResumeState, cache_dir
from autosred.ctl.dropboxtls import mismatch_in, pinned_context
from autosred.ctl.dropboxtus import (
    ChecksumRefused,
    DropboxHttp,
    DropboxRefused,
    DropboxUnreachable,
    OffsetConflict,
    RemoteFile,
)
from autosred.ctl.transferview import TransferView, transfer_view

EXIT_USAGE = 2
RETRIES = 3
"""How often one chunk is sent again after a checksum refusal or an offset conflict."""
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Sent:
    id: str
    name: str
    size: int
    sha256: str


def put(args: argparse.Namespace, ctx: Context) -> int:
    paths = [Path(p) for p in args.files]
    if args.name is not None and len(paths) != 1:
        print("autosrectl: --name names one file; give one FILE with it", file=ctx.err)
        return EXIT_USAGE
    for path in paths:
        if not path.is_file():
            raise Failed(f"{path}: not a regular file")
        if not os.access(path, os.R_OK):
            raise Failed(f"{path}: not readable")
    state = ResumeState(cache_dir(os.environ))
    sent: list[Sent] = []
    try:
        with (
            _dropbox(args, ctx) as (http, fingerprint),
            transfer_view(ctx.err, quiet=ctx.json) as view,
        ):
            uploader = _Uploader(http, fingerprint, state, view, args.chunk_size)
            for path in paths:
                done = uploader.put(path, args.name if args.name is not None else path.name)
                sent.append(done)
                if not ctx.json:
                    print(done.id, file=ctx.out, flush=True)
    except KeyboardInterrupt:
        print("autosrectl: interrupted; run the same put again to resume", file=ctx.err)
        return EXIT_INTERRUPTED
    if ctx.json:
        ctx.print_json({"files": [vars(s) for s in sent]})
    return EXIT_OK


def get(args: argparse.Namespace, ctx: Context) -> int:
    try:
        with _dropbox(args, ctx) as (http, _), transfer_view(ctx.err, quiet=ctx.json) as view:
            wanted = _find(http.files(), args.file)
            chosen = Path(args.output) if args.output is not None else None
            if chosen is not None and chosen.is_dir():
                chosen = chosen / _local_name(wanted)
            target = chosen or Path(_local_name(wanted))
            if chosen is None and target.exists():
                raise Failed(f"{target} exists; choose where to write with -o PATH")
            _get_one(http, view, wanted, target)
    except KeyboardInterrupt:
        print("autosrectl: interrupted; run the same get again to resume", file=ctx.err)
        return EXIT_INTERRUPTED
    if ctx.json:
        ctx.print_json({**vars(wanted), "path": str(target)})
    else:
        print(target, file=ctx.out)
    return EXIT_OK


@contextlib.contextmanager
def _dropbox(args: argparse.Namespace, ctx: Context) -> Iterator[tuple[DropboxHttp, str]]:
    """The dropbox the daemon names, over pinned TLS; its errors as autosrectl's."""
    session = _parse(DropboxSession.from_json, ctx.client().post("/v1/dropbox/session", {}))
    context = pinned_context(session.pem, session.fingerprint)
    if args.client_key is not None and args.client_cert is None:
        raise Failed("--client-key is the key of --client-cert: give both")
    if args.client_cert is not None:
        try:
            context.load_cert_chain(args.client_cert, args.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise Failed(f"cannot use the client certificate {args.client_cert}: {exc}") from exc
    try:
        with DropboxHttp(session.url, session.token, context) as http:
            yield http, context.fingerprint
    except DropboxUnreachable as exc:
        mismatch = mismatch_in(exc)
        if mismatch is not None:
            raise Failed(f"refusing the dropbox at {session.url}: {mismatch}") from exc
        hint = ""
        if exc.closed_after_handshake and args.client_cert is None:
            hint = (
                " (a dropbox that asks for a client certificate, dropbox.tls.client_ca, "
                "needs one: --client-cert)"
            )
        raise Unreachable(f"{exc}{hint}") from exc
    except DropboxRefused as exc:
        raise Failed(str(exc)) from exc


@dataclass(frozen=True)
class _Uploader:
    """Puts files to one dropbox, resuming what `state` says was started."""

    http: DropboxHttp
    dropbox: str
    """The dropbox's certificate fingerprint: whose uploads `state` holds."""
    state: ResumeState
    view: TransferView
    chunk_size: int

    def put(self, path: Path, name: str) -> Sent:
        key = FileKey.of(path)
        url, offset = self._resumed(key)
        if url is None:
            url = self.http.create(key.size, name)
            self.state.remember(self.dropbox, key, url)
            offset = 0
        self.view.start(name, key.size, offset)
        with path.open("rb") as source:
            self._send(source, url, offset, key.size)
        if FileKey.of(path) != key:
            self.state.forget(self.dropbox, key)
            raise Failed(f"{path} changed while it was sent; put it again")
        file_id = self.http.own_url(url).path.rstrip("/").rsplit("/", 1)[-1]
        ours = _sha256(path)
        theirs = {f.id: f for f in self.http.files()}.get(file_id)
        self.state.forget(self.dropbox, key)
        if theirs is None or not theirs.complete:
            raise Failed(f"{path}: the dropbox does not list upload {file_id} as finished")
        if theirs.sha256 and theirs.sha256.lower() != ours:
            raise Failed(f"{path}: the dropbox holds sha256 {theirs.sha256}, the file has {ours}")
        return Sent(id=file_id, name=theirs.name, size=theirs.size, sha256=ours)

    def _resumed(self, key: FileKey) -> tuple[str | None, int]:
        """The upload a former put of this file started, and how far it got."""
        kept = self.state.find(self.dropbox, key)
        if kept is None:
            return None, 0
        # The dropbox is the one with this certificate wherever it listens now (a restart on
        # another port, a new address): its upload is found by the path alone.
        url = str(self.http.own_url(urlsplit(kept).path))
        try:
            return url, self.http.offset(url)
        except DropboxRefused:
            # Gone (expired, removed) or an answer we cannot resume from: start again.
            return None, 0

    def _send(self, source: BinaryIO, url: str, offset: int, size: int) -> None:
        failures = 0
        while offset < size:
            source.seek(offset)
            chunk = source.read(min(self.chunk_size, size - offset))
            if not chunk:
                raise Failed(f"{source.name} became shorter while it was sent; put it again")
            try:
                offset = self.http.patch(url, offset, chunk, self.view.advance)
                failures = 0
            except (OffsetConflict, ChecksumRefused) as exc:
                failures += 1
                if failures > RETRIES:
                    raise Failed(f"{source.name}: {exc} ({RETRIES} tries)") from exc
                offset = self.http.offset(url)
                self.view.restart(offset)


def _find(files: list[RemoteFile], wanted: str) -> RemoteFile:
    """A finished file by id, else by name (one of that name)."""
    finished = [f for f in files if f.complete]
    for remote in finished:
        if remote.id == wanted:
            return remote
    named = [f for f in finished if f.name == wanted]
    if not named:
        raise Failed(f"no finished file with id or name {wanted!r} in the dropbox")
    if len(named) > 1:
        ids = ", ".join(f.id for f in named)
        raise Failed(f"{len(named)} files are named {wanted!r}; give one id: {ids}")
    return named[0]


def _local_name(remote: RemoteFile) -> str:
    """The file's name when it is safe as a file name here, else its id: a name is metadata
    from whoever uploaded it and must never choose a directory."""
    name = remote.name
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        return remote.id
    return name


def _get_one(http: DropboxHttp, view: TransferView, remote: RemoteFile, target: Path) -> None:
    part = target.with_name(target.name + ".part")
    with part.open("ab") as out:
        start = out.tell()
        if start > remote.size:
            out.truncate(0)
            start = 0
        view.start(remote.name, remote.size, start)
        wanted = start < remote.size or remote.size == 0
        if wanted and http.download(remote.id, out, start, view.advance) != start:
            # The dropbox sent the whole file (200): the bar counted it on top of the part.
            view.restart(remote.size)
        out.flush()
        os.fsync(out.fileno())
    got = _sha256(part)
    if remote.sha256 and remote.sha256.lower() != got:
        part.unlink()
        raise Failed(
            f"the download of {remote.id} has sha256 {got}, the dropbox says {remote.sha256}; "
            "the partial file was removed: get it again"
        )
    os.replace(part, target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
