"""Claude Code's WebFetch without the vendor's domain preflight (``skipWebFetchPreflight``).

Before each fetch, WebFetch in Claude Code 2.1.197 asks
``https://api.anthropic.com/api/web/domain_info?domain=…`` whether the domain may be fetched
(read from its bundle: ``checkDomainBlocklist``). The URL is absolute, so the request ignores
ANTHROPIC_BASE_URL: behind autosred on a machine without the vendor's API it fails ("Unable to
verify if domain … is safe to fetch") and WebFetch fetches nothing; where it gets through, it
tells the vendor every domain the user fetches. With ``skipWebFetchPreflight: true`` WebFetch
fetches the page itself and sends only its summarising request to ANTHROPIC_BASE_URL, under
the small-model label: with a base URL other than the vendor's and a token, the main model's
own, unless ANTHROPIC_DEFAULT_HAIKU_MODEL / ANTHROPIC_SMALL_FAST_MODEL name a claude-haiku-…
one; the recipes' ``claude-*`` aliases send either to the local model.

autosrectl passes the setting with ``--settings``: Claude Code's "command line" layer, above
the user's, project and local settings files and below managed policy, so no file of the
user's is written or shadowed beyond this one key. ``--settings`` takes one value (the last
one given wins), so a user's own ``--settings`` (inline JSON, or a file relative to the
directory Claude Code starts in, which is autosrectl's) is merged rather than overridden: its
object gets the key, unless it sets the key itself (true or false: the user's word). A value
that cannot be read as a JSON object (Claude Code also reads JSON with comments) is passed on
untouched, with a warning that WebFetch will then ask the vendor.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

OPTION = "--settings"
PREFLIGHT_KEY = "skipWebFetchPreflight"
OURS = f"{OPTION}={json.dumps({PREFLIGHT_KEY: True}, separators=(',', ':'))}"
"""One word with ``=``, like ``--mcp-config``: it cannot take a following prompt as a value."""


@dataclass(frozen=True)
class SettingsArgs:
    before: list[str]
    """Arguments autosrectl adds before the user's (ours, when the user gave no --settings)."""
    args: list[str]
    """The user's arguments, their last ``--settings`` merged with the key."""
    warning: str | None = None


@dataclass(frozen=True)
class _Given:
    start: int
    end: int
    value: str


def skip_webfetch_preflight(claude_args: Sequence[str], *, cwd: Path) -> SettingsArgs:
    """The user's arguments with ``skipWebFetchPreflight: true`` in Claude Code's settings."""
    args = list(claude_args)
    given = _last_settings(args)
    if given is None:
        return SettingsArgs(before=[OURS], args=args)
    settings, why = _read(given.value, cwd)
    if settings is None:
        warning = (
            f"autosrectl: your {OPTION} {given.value!r} is passed on as it is ({why}); "
            f"without {PREFLIGHT_KEY}: true in it, WebFetch asks api.anthropic.com about "
            "each domain first and fails offline"
        )
        return SettingsArgs(before=[], args=args, warning=warning)
    if PREFLIGHT_KEY in settings:
        return SettingsArgs(before=[], args=args)
    merged = json.dumps({**settings, PREFLIGHT_KEY: True}, separators=(",", ":"))
    args[given.start : given.end] = [f"{OPTION}={merged}"]
    return SettingsArgs(before=[], args=args)


def _last_settings(args: list[str]) -> _Given | None:
    """The last ``--settings X`` / ``--settings=X`` among the options (before ``--``)."""
    end = args.index("--") if "--" in args else len(args)
    found: _Given | None = None
    index = 0
    while index < end:
        arg = args[index]
        if arg == OPTION and index + 1 < end:
            found = _Given(index, index + 2, args[index + 1])
            index += 2
            continue
        if arg.startswith(f"{OPTION}="):
            found = _Given(index, index + 1, arg.partition("=")[2])
        index += 1
    return found


def _read(value: str, cwd: Path) -> tuple[dict[str, object] | None, str]:
    """The settings object ``value`` holds (inline JSON as Claude Code tells it: braces at
    both ends, else a file path), or None and why not."""
    text = value.strip()
    if not (text.startswith("{") and text.endswith("}")):
        path = cwd / value
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            return None, f"cannot read {path}: {exc.strerror or exc}"
        except ValueError:
            return None, f"{path} is not UTF-8 text"
    try:
        settings = json.loads(text)
    except ValueError as exc:
        return None, f"not plain JSON: {exc}"
    if not isinstance(settings, dict):
        return None, "not a JSON object"
    return settings, ""
