"""`autosrectl codex [CODEX ARGS…]`: wake the model, then become the Codex CLI pointed at
autosred.

Steps, each with a clear failure:

1. find `codex` on PATH (else exit 127 with how to install it); nothing is woken before that;
2. ask the daemon (admin socket) for its codex listener (else its api listener);
3. pick the model: the user's own ``-m``/``--model``, else ``$AUTOSRE_CODEX_MODEL``, else the
   first ``gpt-*`` id that the listener's ``/v1/models`` lists, else ``gpt-5.5`` when the
   daemon resolves it (a glob alias such as ``gpt-*``), else the first id listed;
4. wake that model (progress on stderr, like ``scale up --wait``); a name autosred does not
   know is an error here rather than a 404 inside Codex;
5. write a fresh CODEX_HOME: ``config.toml`` = the user's own config.toml (from
   ``$CODEX_HOME``, else ``~/.codex``) with the model provider ``autosred`` (the listener,
   ``wire_api = "responses"``, the client token through ``env_key``), the model and the
   daemon's MCP servers (``[mcp_servers.autosred-<name>]``: the api listener's
   ``/mcp/<name>``, the token through ``bearer_token_env_var``; none with ``--no-mcp``) put
   over it, ``web_search = "live"`` when the daemon runs the hosted web search and the user
   chose no mode, plus links to the user's sessions, history, instructions, prompts, skills
   and rules;
6. ``exec`` Codex with ``CODEX_HOME`` set to it and the token in ``$AUTOSRE_CLIENT_TOKEN``;
   the user's arguments follow untouched (but for autosrectl's own ``--no-mcp``).

Why these choices (measured with Codex 0.169.0):

- Codex speaks only the Responses API to a custom provider (``wire_api = "chat"`` is
  rejected) and sends ``Authorization: Bearer $<env_key>``; the built-in ``openai`` provider
  ignores ``OPENAI_BASE_URL`` and tries WebSockets first, so a custom provider it is.
- Codex shapes its requests by model name: for names it has metadata for (``gpt-5.5``) it
  offers ``exec_command`` and the ``apply_patch`` custom tool; for any other name it warns
  "Model metadata … not found" and offers no ``apply_patch``. Hence a ``gpt-*`` name first.
- The auth state (``auth.json``) is not carried over: the daemon needs no OpenAI login, and
  the user's OpenAI credentials have no business in a session with a local model.
- The generated home lives under ``$XDG_CACHE_HOME/autosred/codex`` (default
  ``~/.cache/autosred/codex``), not under /tmp: Codex refuses to create its helper commands
  (``apply_patch`` on the shell's PATH) inside a temporary directory. It is named after the
  pid that Codex keeps after the exec, and removed by a later run once that process is gone.
- Sessions go to the user's own ``sessions/`` (a link), so ``autosrectl codex resume --last``
  and plain ``codex resume`` both find them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import shutil
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from autosred.ctl.commands import Context, Failed
from autosred.ctl.launch import (
    PLACEHOLDER_TOKEN,
    TOKEN_ENV,
    Launch,
    context_window,
    daemon_status,
    get_json,
    listener_url,
    model_ids,
    options,
    run_client,
    wake_for,
)
from autosred.ctl.mcpservers import codex_tables, server_urls, without_no_mcp
from autosred.ctl.tomlwrite import dumps

CODEX = "codex"
MODEL_ENV = "AUTOSRE_CODEX_MODEL"
PROVIDER = "autosred"
"""The id of the model provider in the generated config.toml."""
MODEL_PREFIX = "gpt-"
KNOWN_MODEL = "gpt-5.5"
"""A name Codex 0.169 has model metadata for (full tool set, apply_patch included)."""

INSTALL_HINT = (
    "the Codex CLI is not installed (no `codex` on PATH); install it with\n"
    "  npm install -g @openai/codex\n"
    "(or put its directory on PATH), then run `autosrectl codex` again"
)

# Entries of the user's Codex home that the generated home links to: what the user wrote
# (instructions, prompts, skills, exec-policy rules) and what Codex keeps for the user
# (sessions for `resume`, the prompt history, logs). Never auth.json (see the module doc).
LINKED = (
    "AGENTS.md",
    "AGENTS.override.md",
    "prompts",
    "skills",
    "rules",
    "sessions",
    "archived_sessions",
    "history.jsonl",
    "log",
)
# Created in the user's home when missing, so that the first session is kept too.
_KEPT_DIRS = ("sessions", "archived_sessions")

# Codex arguments that only print something: no need for a daemon or a model.
_INFO_ARGS = frozenset({"-h", "--help", "-V", "--version"})
# Keys of a profile (`codex -p NAME`) that would take the session away from autosred.
_PROFILE_KEYS_DROPPED = ("model_provider", "model")


def codex(args: argparse.Namespace, ctx: Context) -> int:
    return run_client(CODEX, INSTALL_HINT, list(args.codex_args), ctx, prepare)


def prepare(
    codex_args: Sequence[str], *, env: Mapping[str, str], executable: str, ctx: Context
) -> Launch:
    """Everything but the exec: ask the daemon, pick and wake the model, write the home."""
    codex_args, no_mcp = without_no_mcp(codex_args)
    if any(arg in _INFO_ARGS for arg in options(codex_args)):
        # `autosrectl codex --version`: nothing to wake, no daemon needed.
        return Launch(executable, [CODEX, *codex_args], dict(env))
    client = ctx.client()
    status = daemon_status(client)
    url = listener_url(status, "codex", "api")
    token = env.get(TOKEN_ENV) or PLACEHOLDER_TOKEN
    model = model_option(codex_args) or env.get(MODEL_ENV) or discover_model(url, token)
    wake_for(client, model, status=status, user_given=False, err=ctx.err)
    user_home = user_codex_home(env)
    config = codex_config(
        read_config(user_home / "config.toml", err=ctx.err),
        base_url=url,
        model=model,
        context_window=context_window(url, token, model),
        mcp_servers={} if no_mcp else server_urls(status, listener_url(status, "api")),
        live_web_search="web_search" in status.hosted_tools,
    )
    home = make_home(homes_dir(env), user_home, config)
    child_env = {**env, "CODEX_HOME": str(home), TOKEN_ENV: token}
    return Launch(executable=executable, argv=[CODEX, *codex_args], env=child_env)


def model_option(codex_args: Sequence[str]) -> str | None:
    """The value of the user's ``-m X`` / ``-mX`` / ``-m=X`` / ``--model X`` /
    ``--model=X`` (the last one wins), if any."""
    found: str | None = None
    given = list(options(codex_args))
    for index, arg in enumerate(given):
        if arg in ("-m", "--model"):
            if index + 1 < len(given):
                found = given[index + 1]
        elif arg.startswith("--model="):
            found = arg.partition("=")[2]
        elif arg.startswith("-m") and not arg.startswith("--"):
            found = arg[2:].removeprefix("=")
    return found or None


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def discover_model(base_url: str, token: str) -> str:
    """The first ``gpt-*`` id of ``GET {base_url}/v1/models``; else ``gpt-5.5`` when the
    daemon resolves it (``GET /v1/models/gpt-5.5``: globs count); else the first id."""
    url = f"{base_url}/v1/models"
    status, body = get_json(url, _headers(token))
    if status != 200:
        raise Failed(f"{url} answered HTTP {status}: {body}")
    ids = model_ids(body, url)
    for model_id in ids:
        if model_id.startswith(MODEL_PREFIX):
            return model_id
    known, _ = get_json(f"{url}/{quote(KNOWN_MODEL, safe='')}", _headers(token))
    if known == 200:
        return KNOWN_MODEL
    if not ids:
        raise Failed(f"no model on {url}: configure a recipe, or set {MODEL_ENV}")
    return ids[0]


def user_codex_home(env: Mapping[str, str]) -> Path:
    given = env.get("CODEX_HOME")
    if given:
        return Path(given)
    return _home(env) / ".codex"


def homes_dir(env: Mapping[str, str]) -> Path:
    cache = env.get("XDG_CACHE_HOME")
    base = Path(cache) if cache and Path(cache).is_absolute() else _home(env) / ".cache"
    return base / "autosred" / "codex"


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def read_config(path: Path, *, err: TextIO) -> dict[str, Any]:
    """The user's config.toml; a missing one is empty, a broken one is skipped with a word."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        print(f"autosrectl: ignoring {path}: {exc}", file=err, flush=True)
        return {}


def codex_config(
    user: Mapping[str, Any],
    *,
    base_url: str,
    model: str,
    context_window: int | None,
    mcp_servers: Mapping[str, str] | None = None,
    live_web_search: bool = False,
) -> dict[str, Any]:
    """The user's settings with autosred's provider and model put over them.

    Conflicts go to autosred: ``model_provider``, ``model``, ``model_providers.autosred``, the
    context window (the daemon knows the served model's), each profile's provider and
    model, and the ``mcp_servers.autosred-*`` entries of the daemon's MCP servers
    (``mcp_servers``: name -> URL; the user's other servers stay). Update checks and
    analytics are off unless the user set them (no traffic to OpenAI's hosts on the user's
    behalf). With ``live_web_search`` (the daemon runs the hosted web search), ``web_search``
    is ``"live"`` unless the user chose a mode: Codex's default, ``"cached"``, asks for no
    new search at all (``external_web_access: false``), so its web search would only ever
    see earlier results."""
    config: dict[str, Any] = copy.deepcopy(dict(user))
    config["model_provider"] = PROVIDER
    config["model"] = model
    if context_window is not None:
        config["model_context_window"] = context_window
    providers = config.get("model_providers")
    if not isinstance(providers, dict):
        providers = {}
    providers[PROVIDER] = {
        "name": "autosred",
        "base_url": f"{base_url}/v1",
        "env_key": TOKEN_ENV,
        "env_key_instructions": f"autosrectl sets {TOKEN_ENV}; export it when the daemon "
        "has client tokens (api.clients)",
        "wire_api": "responses",
    }
    config["model_providers"] = providers
    if mcp_servers:
        servers = config.get("mcp_servers")
        if not isinstance(servers, dict):
            servers = {}
        servers.update(codex_tables(mcp_servers, token_env=TOKEN_ENV))
        config["mcp_servers"] = servers
    profiles = config.get("profiles")
    if isinstance(profiles, dict):
        for profile in profiles.values():
            if isinstance(profile, dict):
                for key in _PROFILE_KEYS_DROPPED:
                    profile.pop(key, None)
    if live_web_search:
        config.setdefault("web_search", "live")
    config.setdefault("check_for_update_on_startup", False)
    analytics = config.get("analytics")
    if not isinstance(analytics, dict):
        analytics = config["analytics"] = {}
    analytics.setdefault("enabled", False)
    return config


def make_home(parent: Path, user_home: Path, config: Mapping[str, Any]) -> Path:
    """A new CODEX_HOME under ``parent``: the config, and links to the user's state."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    sweep(parent)
    home = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent))
    config_path = home / "config.toml"
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(dumps(config))
    user_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in _KEPT_DIRS:
        (user_home / name).mkdir(mode=0o700, exist_ok=True)
    for name in LINKED:
        target = user_home / name
        if target.exists():
            (home / name).symlink_to(target.absolute())
    return home


def sweep(parent: Path) -> None:
    """Remove the homes of earlier runs whose Codex has exited (named ``<pid>-…``)."""
    for entry in parent.iterdir():
        pid_text, sep, _ = entry.name.partition("-")
        if not sep or not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
