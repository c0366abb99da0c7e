"""``autosrectl dropbox``: the daemon's HTTPS file dropbox, through the admin API."""

from __future__ import annotations

import argparse

from autosred.admin.schema import DropboxCert
from autosred.ctl.commands import EXIT_OK, Context, _parse


def cert(args: argparse.Namespace, ctx: Context) -> int:
    """The fingerprint alone on its line (what a client pins), or the PEM with ``--pem``."""
    answer = _parse(DropboxCert.from_json, ctx.client().get("/v1/dropbox/cert"))
    if ctx.json:
        ctx.print_json(answer.to_json())
    elif args.pem:
        print(answer.pem.rstrip("\n"), file=ctx.out)
    else:
        print(answer.fingerprint, file=ctx.out)
    return EXIT_OK
