"""`autosrectl claude [CLAUDE ARGS…]`: wake the model, then become Claude Code pointed at autosred.

Steps, each with a clear failure:

1. find `claude` on PATH (else exit 127 with how to install it); nothing is woken before that;
2. ask the daemon (admin socket) for its api listener;
3. pick the model label: the user's own ``--model``, else ``$AUTOSRE_CLAUDE_LABEL``, else the
   first ``claude-*`` id that the api listener's ``/v1/models`` lists (Anthropic shape);
4. wake the model that label resolves to (the daemon resolves it, globs and ``claude_label``
   included), showing progress on stderr like ``scale up --wait``;
5. ``exec`` Claude Code with ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN, the label as
   ``--model`` (unless the user gave one), the daemon's MCP servers as ``--mcp-config``
   (``autosred-<name>``, Streamable HTTP on the api listener; none with ``--no-mcp``),
   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1, ``skipWebFetchPreflight`` in ``--settings``
   (``claudesettings``: WebFetch asks no vendor host, a user's own ``--settings`` merged), and
   the model's context window as Claude Code's auto-compact window (``claudewindow``); the
   user's arguments follow untouched (but for autosrectl's own ``--no-mcp``).

The daemon stores client tokens hashed, so it cannot hand one out: the token comes from
``$AUTOSRE_CLIENT_TOKEN``, else a placeholder (fine while no client tokens are configured).
Progress goes to stderr so that ``autosrectl claude -p … --output-format json`` keeps a clean
stdout.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from autosred.ctl.claudesettings import skip_webfetch_preflight
from autosred.ctl.claudewindow import compact_env
from autosred.ctl.commands import Context, Failed
from autosred.ctl.launch import (
    PLACEHOLDER_TOKEN,
    TOKEN_ENV,
    Launch,
    base_url,
    context_window,
    daemon_status,
    get_json,
    listener_url,
    model_ids,
    options,
    run_client,
    wake_for,
)
from autosred.ctl.mcpservers import claude_config, server_urls, without_no_mcp

CLAUDE = "claude"

LABEL_ENV = "AUTOSRE_CLAUDE_LABEL"
NONESSENTIAL_ENV = "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"
"""No update checks, telemetry or other calls to Anthropic's own hosts."""

ANTHROPIC_VERSION = "2023-06-01"
LABEL_PREFIX = "claude-"

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

api_base_url = base_url


def claude(args: argparse.Namespace, ctx: Context) -> int:
    return run_client(CLAUDE, INSTALL_HINT, list(args.claude_args), ctx, prepare)


def prepare(
    claude_args: Sequence[str], *, env: Mapping[str, str], executable: str, ctx: Context
) -> Launch:
    """Everything but the exec: ask the daemon, pick the label, wake the model."""
    claude_args, no_mcp = without_no_mcp(claude_args)
    if any(arg in _INFO_ARGS for arg in options(claude_args)):
        # `autosrectl claude --version`: nothing to wake, no daemon needed.
        return Launch(executable, [CLAUDE, *claude_args], {**env, NONESSENTIAL_ENV: "1"})
    client = ctx.client()
    status = daemon_status(client)
    url = listener_url(status, "api")
    token = env.get(TOKEN_ENV) or PLACEHOLDER_TOKEN
    user_model = model_option(claude_args)
    label = user_model or env.get(LABEL_ENV) or discover_label(url, token)
    wake_for(client, label, status=status, user_given=user_model is not None, err=ctx.err)
    argv = [CLAUDE]
    if user_model is None:
        argv += ["--model", label]
    servers = {} if no_mcp else server_urls(status, url)
    if servers:
        # One word with `=`: --mcp-config takes several values, and as a separate word
        # it would swallow a prompt that follows it.
        config = claude_config(servers, token_env=TOKEN_ENV if env.get(TOKEN_ENV) else None)
        argv.append(f"--mcp-config={config}")
    webfetch = skip_webfetch_preflight(claude_args, cwd=Path.cwd())
    if webfetch.warning:
        print(webfetch.warning, file=ctx.err)
    argv += [*webfetch.before, *webfetch.args]
    child_env = claude_env(env, url, token)
    child_env.update(compact_env(env, context_window(url, token, label)))
    return Launch(executable=executable, argv=argv, env=child_env)


def claude_env(env: Mapping[str, str], base_url: str, token: str) -> dict[str, str]:
    result = {key: value for key, value in env.items() if key not in _DROPPED_ENV}
    result["ANTHROPIC_BASE_URL"] = base_url
    result["ANTHROPIC_AUTH_TOKEN"] = token
    result[NONESSENTIAL_ENV] = "1"
    return result


def model_option(claude_args: Sequence[str]) -> str | None:
    """The value of the user's ``--model X`` / ``--model=X`` (the last one wins), if any."""
    found: str | None = None
    given = list(options(claude_args))
    for index, arg in enumerate(given):
        if arg == "--model" and index + 1 < len(given):
            found = given[index + 1]
        elif arg.startswith("--model="):
            found = arg.partition("=")[2]
    return found or None


def discover_label(base_url: str, token: str) -> str:
    """The first ``claude-*`` id of ``GET {base_url}/v1/models`` (asked in the Anthropic
    shape, one page of up to 1000 like Claude Code's own model discovery; both shapes list
    ``data[].id``)."""
    url = f"{base_url}/v1/models?limit=1000"
    headers = {
        "anthropic-version": ANTHROPIC_VERSION,
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
    }
    status, body = get_json(url, headers)
    if status != 200:
        raise Failed(f"{url} answered HTTP {status}: {body}")
    ids = model_ids(body, url)
    for model_id in ids:
        if model_id.startswith(LABEL_PREFIX):
            return model_id
    listed = ", ".join(ids) or "none"
    raise Failed(
        f"no claude-* model name on {url} (listed: {listed}); set {LABEL_ENV}, pass "
        "--model, or give a recipe a claude_label"
    )
