"""autosrectl: the thin command-line client of the autosred admin API.

Start-up time matters (it is run from shells and prompts), so this module imports only the
standard library and autosred.admin.schema; each command's module is imported when that
command runs, and rich only for a live display on a terminal.

Exit status: 0 done, 1 failed (the daemon said no, or the operation failed), 2 usage,
3 the daemon cannot be reached, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from autosred.admin.schema import (
    PACKAGE_VERSION,
    SOCKET_ENV,
    WATCH_INTERVAL_DEFAULT,
    WATCH_INTERVAL_MAX,
    WATCH_INTERVAL_MIN,
    default_socket_path,
)
from autosred.ctl.units import count_argument, duration_argument, size_argument

if TYPE_CHECKING:
    from autosred.ctl.commands import Context

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

PROG = "autosrectl"

# How the MCP capabilities group (autosred.mcp.capabilities) tells which commands it may offer
# as tools: each command's parser carries `effect` in its defaults (set_defaults), and its
# `handler`, "module:function", imported only when that command runs (a sub-command without
# one runs its parent's).
EFFECT = "effect"
HANDLER = "handler"
READS = "reads"
"""Only reads: offered as a tool by default."""
CHANGES = "changes"
"""Changes the daemon's state: a tool only when `mcp.capabilities.allow` names it. A command
that is not marked counts as this, so a new command is never offered by accident."""
LAUNCHES = "launches"
"""Runs another program in this terminal (claude, codex), is interactive (watch) or moves
this machine's files (dropbox put, get): never a tool."""


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    effect: str,
    handler: str | None = None,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """A command's parser, marked with what running it does (and how, unless its parent's
    handler runs it)."""
    parser = commands.add_parser(name, **kwargs)
    parser.set_defaults(**{EFFECT: effect}, **({HANDLER: handler} if handler else {}))
    return parser


def _dropbox_access_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """`dropbox token|share|ls|rm`: who may use the dropbox, its links and its files."""
    token = _command(
        commands,
        "token",
        effect=CHANGES,
        parents=[common],
        help="the dropbox's bearer tokens (each sees its own files)",
    )
    token_commands = token.add_subparsers(dest="token_command", metavar="WHAT", required=True)
    create = _command(
        token_commands,
        "create",
        effect=CHANGES,
        handler="autosred.ctl.dropboxaccess:token_create",
        parents=[common],
        help="make a token; it is printed once, alone on its line",
        description="Make a bearer token NAME for the dropbox and print it alone on its line: "
        "it is shown this once (the daemon keeps only its SHA-256). The token sees the files "
        "uploaded with it. A name whose token was revoked or expired gets a new token, and "
        "with it the name's files.",
    )
    create.add_argument("name", metavar="NAME", help="1-64 letters, digits, '.', '_', '-'")
    create.add_argument(
        "--quota", type=size_argument, metavar="SIZE", help="bytes it may hold: 500M, 10G"
    )
    create.add_argument("--max-files", type=count_argument, metavar="N", help="files it may hold")
    create.add_argument(
        "--expires", type=duration_argument, metavar="DURATION", help="lifetime: 12h, 7d, 4w"
    )
    create.add_argument("--read-only", action="store_true", help="download and list only")
    _command(
        token_commands,
        "ls",
        effect=READS,
        handler="autosred.ctl.dropboxaccess:token_ls",
        parents=[common],
        help="the tokens (names, state, quotas; never the secrets)",
    )
    revoke = _command(
        token_commands,
        "revoke",
        effect=CHANGES,
        handler="autosred.ctl.dropboxaccess:token_revoke",
        parents=[common],
        help="revoke a token at once (its files stay)",
    )
    revoke.add_argument("name", metavar="NAME")
    share = _command(
        commands,
        "share",
        effect=CHANGES,
        handler="autosred.ctl.dropboxaccess:share",
        parents=[common],
        help="a link that downloads a file without a token; the URL alone on its line",
        description="Print https://HOST:PORT/s/SECRET alone on its line: it downloads file ID "
        "without a token until it expires or its downloads are used up. HOST is "
        "dropbox.tls.hostnames[0], else the listen address.",
    )
    share.add_argument("id", metavar="ID")
    share.add_argument(
        "--expires",
        type=duration_argument,
        default="24h",
        metavar="DURATION",
        help="how long it works: 1h, 7d (default 24h)",
    )
    share.add_argument(
        "--max-downloads", type=count_argument, metavar="N", help="downloads it allows"
    )
    _command(
        commands,
        "ls",
        effect=READS,
        handler="autosred.ctl.dropboxaccess:ls",
        parents=[common],
        help="every file and unfinished upload, with its owner",
        description="List the dropbox's files and unfinished uploads of every owner; --json "
        "prints a list of {id, name, size, sha256, complete, owner}.",
    )
    remove = _command(
        commands,
        "rm",
        effect=CHANGES,
        handler="autosred.ctl.dropboxaccess:rm",
        parents=[common],
        help="remove a file or an unfinished upload",
    )
    remove.add_argument("id", metavar="ID")


def _common_options() -> argparse.ArgumentParser:
    """Options valid before and after the command (`autosrectl --json status` and
    `autosrectl status --json`). SUPPRESS keeps a subcommand's unset option from overwriting
    the value given before the command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"admin socket of the daemon (default: ${SOCKET_ENV}, else {default_socket_path()})",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the daemon's answer as JSON (NDJSON for scale --wait)",
    )
    return common


def _dropbox_transfer_commands(
    dropbox_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """put and get: they read and write this machine's files. Run as a tool inside the
    daemon they would reach the daemon's own files instead, so they are never tools."""
    dropbox_put = _command(
        dropbox_commands,
        "put",
        effect=LAUNCHES,
        handler="autosred.ctl.dropboxtransfer:put",
        parents=[common],
        help="upload files to the dropbox (resumable: run it again after an interruption)",
        description="Upload each FILE to the dropbox over HTTPS (tus), with the certificate "
        "the daemon names pinned; prints each file's id alone on its line. An interrupted put "
        "resumes where it stopped when run again with the same file (same path, size and "
        "modification time). A progress bar on a terminal, nothing else otherwise.",
    )
    dropbox_put.add_argument("files", nargs="+", metavar="FILE", help="the files to upload")
    dropbox_put.add_argument(
        "--name", metavar="N", help="the name the dropbox shows (default: the file's own)"
    )
    dropbox_put.add_argument(
        "--chunk-size",
        type=_chunk_size,
        default=8 << 20,
        metavar="SIZE",
        help="bytes per request, each checksummed (default 8M; smaller resends less on a "
        "flaky link)",
    )
    dropbox_get = _command(
        dropbox_commands,
        "get",
        effect=LAUNCHES,
        handler="autosred.ctl.dropboxtransfer:get",
        parents=[common],
        help="download a file from the dropbox (resumable)",
        description="Download the finished file with this id (else this name) into PATH "
        "(default: its name here, never replacing a file), through PATH.part, which a later "
        "get resumes; the file appears under PATH only once its sha256 is the dropbox's. "
        "Prints PATH.",
    )
    dropbox_get.add_argument("file", metavar="ID|NAME", help="the file's id or its name")
    dropbox_get.add_argument(
        "-o", "--output", metavar="PATH", help="where to write it (a directory: under its name)"
    )
    for transfer in (dropbox_put, dropbox_get):
        transfer.add_argument(
            "--client-cert",
            type=Path,
            metavar="PEM",
            help="a client certificate to present (when the dropbox asks for one: "
            "dropbox.tls.client_ca); its key too unless --client-key",
        )
        transfer.add_argument(
            "--client-key", type=Path, metavar="PEM", help="the key of --client-cert"
        )


def _chunk_size(text: str) -> int:
    size = size_argument(text)
    if size > 1 << 30:
        raise argparse.ArgumentTypeError(f"{text!r}: a chunk is held in memory; at most 1G")
    return size


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Control the autosred daemon through its admin socket.",
        epilog="exit status: 0 ok, 1 failed, 2 usage, 3 daemon unreachable",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {PACKAGE_VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_commands(commands, common)
    return parser


def _add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    _command(
        commands,
        "status",
        effect=READS,
        handler="autosred.ctl.commands:status",
        parents=[common],
        help="daemon, listeners and models at a glance",
    )
    _add_models(commands, common)
    scale = _command(
        commands,
        "scale",
        effect=CHANGES,
        handler="autosred.ctl.commands:scale",
        parents=[common],
        help="start or stop a model",
        description="Start (up) or stop (down) a model. A stop waits for requests in flight.",
    )
    scale.add_argument("direction", choices=["up", "down"])
    scale.add_argument("model", metavar="MODEL")
    scale.add_argument(
        "--wait",
        action="store_true",
        help="follow progress until the model is ready (up) or stopped (down); exit 1 on failure",
    )
    _command(
        commands,
        "reload",
        effect=CHANGES,
        handler="autosred.ctl.commands:reload",
        parents=[common],
        help="re-read config and recipes (exit 1 when the new config is rejected)",
    )
    _command(
        commands,
        "version",
        effect=READS,
        handler="autosred.ctl.commands:version",
        parents=[common],
        help="client and daemon versions",
    )
    drift = _command(
        commands,
        "drift",
        effect=READS,
        handler="autosred.ctl.kube:drift",
        parents=[common],
        help="what differs between recipes and what runs (field by field)",
        description="Compare each model's recipe, rendered, with the live Deployment and pod "
        "(args, image and its digest, env, resources, probes, volumes).",
    )
    drift.add_argument("model", metavar="MODEL", nargs="?", help="one model (default: all)")
    drift.add_argument("--exit-code", action="store_true", help="exit 1 when any model has drifted")
    recipe = _command(
        commands,
        "recipe",
        effect=READS,
        handler="autosred.ctl.kube:recipe",
        parents=[common],
        help="show what a recipe renders to",
    )
    recipe_commands = recipe.add_subparsers(dest="recipe_command", metavar="WHAT", required=True)
    helm = _command(
        recipe_commands,
        "helm-values",
        effect=READS,
        parents=[common],
        help="the recipe as values for the helm/autosre chart (YAML)",
    )
    helm.add_argument("model", metavar="NAME")
    apply = _command(
        recipe_commands,
        "apply",
        effect=CHANGES,
        handler="autosred.ctl.kube:recipe_apply",
        parents=[common],
        help="create or patch the recipe's Service and Deployment (server-side apply)",
        description="Make the recipe's Service and Deployment in the engine's namespace match "
        "the recipe, through the daemon's Kubernetes client with server-side apply (field "
        "manager 'autosred'): what helm/autosre would install, for a host without helm. The "
        "Deployment keeps its live replicas. A field another manager set is a conflict (exit "
        "1, the fields named) unless --force. Needs engine.kind: kubernetes.",
    )
    apply.add_argument("model", metavar="NAME")
    apply.add_argument(
        "--dry-run",
        action="store_true",
        help="print the diff (live vs what the API server would make) and change nothing",
    )
    apply.add_argument(
        "--force", action="store_true", help="take over fields another field manager set"
    )
    dropbox = _command(
        commands,
        "dropbox",
        effect=CHANGES,
        parents=[common],
        help="the daemon's HTTPS file dropbox",
    )
    dropbox_commands = dropbox.add_subparsers(dest="dropbox_command", metavar="WHAT", required=True)
    dropbox_cert = _command(
        dropbox_commands,
        "cert",
        effect=READS,
        handler="autosred.ctl.dropbox:cert",
        parents=[common],
        help="the dropbox listener's certificate: its SHA-256 fingerprint (to pin)",
        description="Print the SHA-256 fingerprint (hex pairs joined by colons) of the "
        "certificate the dropbox listener serves, alone on its line; --pem prints the "
        "certificate itself (for curl --cacert or a tus client's trust store).",
    )
    dropbox_cert.add_argument(
        "--pem", action="store_true", help="print the certificate (PEM) instead"
    )
    _dropbox_access_commands(dropbox_commands, common)
    _dropbox_transfer_commands(dropbox_commands, common)
    claude = _command(
        commands,
        "claude",
        effect=LAUNCHES,
        handler="autosred.ctl.claude:claude",
        help="wake the model, then run Claude Code against autosred (arguments go to claude)",
        description="Wake the model, then exec Claude Code with ANTHROPIC_BASE_URL, "
        "ANTHROPIC_AUTH_TOKEN ($AUTOSRE_CLIENT_TOKEN) and --model (the user's, else "
        "$AUTOSRE_CLAUDE_LABEL, else the first claude-* id on /v1/models), the daemon's MCP "
        "tool servers (--mcp-config; autosrectl's own --no-mcp leaves them out) and the "
        "model's context window for auto-compaction. Every other argument after `claude` is "
        "Claude Code's, untouched.",
        # Everything after `claude` belongs to Claude Code (--help and --model included): no
        # argument starts with NUL, so this parser reads none of them as an option.
        prefix_chars="\0",
        add_help=False,
    )
    claude.add_argument("claude_args", nargs=argparse.REMAINDER, metavar="CLAUDE ARGS")
    codex = _command(
        commands,
        "codex",
        effect=LAUNCHES,
        handler="autosred.ctl.codex:codex",
        help="wake the model, then run the Codex CLI against autosred (arguments go to codex)",
        description="Wake the model, then exec the Codex CLI with a fresh CODEX_HOME whose "
        "config.toml is yours plus the model provider autosred (the codex listener, "
        "wire_api responses, token $AUTOSRE_CLIENT_TOKEN) and the model (your -m, else "
        "$AUTOSRE_CODEX_MODEL, else the first gpt-* id on /v1/models) and the daemon's MCP "
        "tool servers ([mcp_servers.autosred-*]; autosrectl's own --no-mcp leaves them out). "
        "Every other argument after `codex` is Codex's, untouched.",
        prefix_chars="\0",  # as for `claude`: every argument is Codex's
        add_help=False,
    )
    codex.add_argument("codex_args", nargs=argparse.REMAINDER, metavar="CODEX ARGS")
    _add_watch(commands, common)


def _add_watch(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    # Interactive (it owns the terminal until q): never a tool, like claude and codex.
    watch = _command(
        commands,
        "watch",
        effect=LAUNCHES,
        handler="autosred.ctl.watch:watch",
        parents=[common],
        help="a live view: models, the model server's figures, requests, connections, GPUs, log",
        description="Follow the daemon live on one screen: each model (state, wake phase and "
        "ETA, uptime, idle countdown, in flight and held, drift, GPU memory), the model "
        "server's figures (requests running and waiting, KV cache, tokens/s, time to first "
        "token, prefix cache hits), recent requests, connections, GPUs and the model server's "
        "log. Keys: q quits, m cycles the model in focus, l toggles the log. Not on a "
        "terminal, each frame is printed in full; --json prints the stream as NDJSON.",
    )
    watch.add_argument("--once", action="store_true", help="print one frame and exit")
    watch.add_argument(
        "--interval",
        type=_interval,
        default=WATCH_INTERVAL_DEFAULT,
        metavar="SECONDS",
        help=f"seconds between frames, {WATCH_INTERVAL_MIN:g} to {WATCH_INTERVAL_MAX:g} "
        f"(default {WATCH_INTERVAL_DEFAULT:g})",
    )


def _interval(text: str) -> float:
    """The daemon's own bounds, checked here so that a typo is a usage error (exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not WATCH_INTERVAL_MIN <= value <= WATCH_INTERVAL_MAX:  # NaN fails this too
        raise argparse.ArgumentTypeError(
            f"a number of seconds from {WATCH_INTERVAL_MIN:g} to {WATCH_INTERVAL_MAX:g}, "
            f"not {text!r}"
        )
    return value


def _add_models(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """`models` [list|available], `models running`, `models switch NAME`: sub-commands, so that
    each carries its own effect (listing reads, switching changes)."""
    models = _command(
        commands,
        "models",
        effect=READS,
        handler="autosred.ctl.commands:models",
        parents=[common],
        help="the configured models; `models running`; `models switch NAME`",
        description="List the configured (available) models, those running now, or switch the "
        "running model.",
    )
    actions = models.add_subparsers(dest="action", metavar="ACTION")
    _command(
        actions,
        "list",
        effect=READS,
        aliases=["available"],
        parents=[common],
        help="the configured models, running or not",
    )
    _command(actions, "running", effect=READS, parents=[common], help="the models running now")
    switch = _command(
        actions,
        "switch",
        effect=CHANGES,
        parents=[common],
        help="switch the running model",
        description="Switch the running model: other GPU-using models stop once their requests "
        "are done, then NAME wakes.",
    )
    switch.add_argument("model", metavar="NAME", help="the model to run")
    switch.add_argument("--wait", action="store_true", help="follow progress until NAME is ready")
    # After add_subparsers, so that it is the default of the `action` it adds.
    models.set_defaults(action="list")


SYSTEM_SOCKET = default_socket_path(uid=0)


def socket_path(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    """--socket, else $AUTOSRED_ADMIN_SOCKET, else this user's own daemon's socket when it
    exists, else the system daemon's (a member of the autosre group runs no daemon of its own)."""
    given = cast(Path | None, getattr(args, "socket", None))
    if given is not None:
        return given
    from_env = env.get(SOCKET_ENV)
    if from_env:
        return Path(from_env)
    own = default_socket_path(env=env)
    if own != SYSTEM_SOCKET and _exists(own) is False and _exists(SYSTEM_SOCKET) is not False:
        # Also when this user may not even look into /run/autosred (0750, group autosre): the
        # connection is then refused with EACCES, which says who may connect, where the
        # user's own missing socket would only ask whether the daemon runs.
        return SYSTEM_SOCKET
    return own


def _exists(path: Path) -> bool | None:
    """Whether ``path`` exists; None when this user may not know (a directory it cannot
    search). Path.exists() raises PermissionError there before Python 3.12."""
    try:
        path.stat()
    except PermissionError:
        return None
    except OSError:
        return False
    return True


def resolve_handler(spec: str) -> Callable[[argparse.Namespace, Context], int]:
    """A command's function from its `handler` default ("module:function")."""
    module, _, name = spec.partition(":")
    return cast(
        Callable[[argparse.Namespace, "Context"], int],
        getattr(importlib.import_module(module), name),
    )


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    from autosred.ctl.client import DaemonError, Unreachable
    from autosred.ctl.commands import Context, Failed

    ctx = Context(
        socket=socket_path(args, os.environ), json=getattr(args, "json", False), out=out, err=err
    )
    try:
        return resolve_handler(getattr(args, HANDLER))(args, ctx)
    except Unreachable as exc:
        print(f"{PROG}: {exc}", file=err)
        return EXIT_UNREACHABLE
    except (DaemonError, Failed) as exc:
        print(f"{PROG}: {exc}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `autosrectl status | head -1`: the reader left; nothing left to say.
        _silence_stdout()
        return EXIT_FAILED


def _silence_stdout() -> None:
    # Python flushes stdout again at exit and would print a second BrokenPipeError.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
