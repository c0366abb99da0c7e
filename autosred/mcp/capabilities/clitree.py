"""autosrectl's command tree, read from the parser the CLI itself runs (`build_parser`).

Each command that can be run as it stands is one `CliCommand`: a leaf of the tree, or a
command whose sub-commands are optional (`models` runs `models list`; that default is not
listed again). The walk knows argparse's structure (`_actions`, `_defaults`, the sub-parsers'
`choices`), which has been stable since argparse was added to the standard library; a test
builds the tree and compares, so a change there fails loudly rather than dropping tools.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from autosred.ctl.main import CHANGES, EFFECT, HANDLER, LAUNCHES, READS

# The options every command shares, set by the one who runs the command rather than by its
# caller: where the admin socket is, and that the answer is JSON.
RUNNER_OPTIONS = frozenset({"socket", "json"})
_STRICTNESS = (READS, CHANGES, LAUNCHES)


@dataclass(frozen=True)
class CliCommand:
    """One runnable autosrectl command, e.g. ``models switch``."""

    path: tuple[str, ...]
    """The words after ``autosrectl``: ``("models", "switch")``."""
    help: str
    """The one-line help the parent shows for it (empty when none)."""
    description: str
    """The parser's own description (empty when none)."""
    effect: str
    """What running it does (`autosred.ctl.main` READS, CHANGES or LAUNCHES); a parser
    without the mark counts as CHANGES."""
    handler: str
    """The function that runs it, "module:function"."""
    parsers: tuple[argparse.ArgumentParser, ...]
    """From the top-level parser down to the command's own."""
    chosen: Mapping[str, str]
    """Each sub-parsers destination on the way and the name chosen there
    (``{"command": "models", "action": "switch"}``)."""

    @property
    def name(self) -> str:
        """The tool's name: the words joined with ``_`` (``models_switch``); a ``-`` inside a
        word is ``_`` too (``recipe_helm_values``), so every name reads as an identifier."""
        return "_".join(self.path).replace("-", "_")

    @property
    def arguments(self) -> tuple[argparse.Action, ...]:
        """The command's own arguments, as its caller gives them (no help, no version, no
        sub-command selector, none of the runner's options)."""
        return tuple(
            action
            for action in self.parsers[-1]._actions
            if not isinstance(
                action,
                argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction,
            )
            and action.dest not in RUNNER_OPTIONS
        )


def cli_commands(root: argparse.ArgumentParser) -> list[CliCommand]:
    """Every runnable command under ``root``, in the order the CLI's help lists them."""
    return list(_walk(root, (), (root,), {}, handler=None))


def _walk(
    parser: argparse.ArgumentParser,
    path: tuple[str, ...],
    chain: tuple[argparse.ArgumentParser, ...],
    chosen: dict[str, str],
    *,
    handler: str | None,
    help: str = "",
) -> Iterator[CliCommand]:
    handler = _default(parser, HANDLER) or handler
    selector = _sub_parsers(parser)
    helps = (
        {action.dest: action.help or "" for action in selector._choices_actions}
        if selector is not None
        else {}
    )
    default_child: str | None = None
    if path and (selector is None or not selector.required):
        if handler is None:
            raise ValueError(f"autosrectl {' '.join(path)} has no handler")
        description = parser.description or ""
        effect = _effect(parser)
        if selector is not None:
            # `models` runs `models list`: the tool is the default's, and says what it does
            # (the parent's text is about all its sub-commands).
            default_child = _default(parser, selector.dest)
            if default_child in selector.choices:
                help = helps.get(default_child, "") or help
                default = selector.choices[default_child]
                description = default.description or ""
                # Running it runs the default too: the stricter of the two marks counts.
                effect = max(effect, _effect(default), key=_STRICTNESS.index)
        yield CliCommand(
            path=path,
            help=help,
            description=description,
            effect=effect,
            handler=handler,
            parsers=chain,
            chosen=dict(chosen),
        )
    if selector is None:
        return
    seen: set[int] = set()
    for name, child in selector.choices.items():
        # Aliases map to the same parser as the name they stand for, which comes first.
        if id(child) in seen or name == default_child:
            seen.add(id(child))
            continue
        seen.add(id(child))
        yield from _walk(
            child,
            (*path, name),
            (*chain, child),
            {**chosen, selector.dest: name},
            handler=handler,
            help=helps.get(name, ""),
        )


def _sub_parsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _effect(parser: argparse.ArgumentParser) -> str:
    """The parser's own mark (not inherited: a new sub-command of a read-only command is not
    read-only until it says so); CHANGES when it has none or one this code does not know."""
    effect = _default(parser, EFFECT)
    return effect if effect in _STRICTNESS else CHANGES


def _default(parser: argparse.ArgumentParser, key: str) -> Any:
    """What ``set_defaults`` gave this parser for ``key`` (None when nothing)."""
    return parser._defaults.get(key)
