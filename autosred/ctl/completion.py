"""Bash completion for autosrectl, generated from its argparse parser.

The Debian package runs ``python -m autosred.ctl.completion`` at build time and installs the
output as /usr/share/bash-completion/completions/autosrectl, so the completion always offers
exactly the commands, options and choices of the autosrectl it ships with. The script holds
one table entry per command path ("", "models", "models switch" ...) and a function that
walks the words typed so far through those paths.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass

from autosred import __version__

PROG = "autosrectl"
FUNCTION = "_autosrectl"


@dataclass(frozen=True)
class Node:
    """What can follow once the words typed so far have reached one command path."""

    path: str
    """Command words after the program name, space-separated ("" for the top level)."""
    options: tuple[str, ...]
    """Every option string, in the parser's order."""
    valued: tuple[str, ...]
    """Options that take a value (the next word is that value, not a command)."""
    path_valued: tuple[str, ...]
    """Valued options whose value is a file system path (completed as file names)."""
    option_choices: tuple[tuple[str, tuple[str, ...]], ...]
    """Valued options with a fixed set of values."""
    commands: tuple[str, ...]
    """Sub-command names, aliases included."""
    choices: tuple[str, ...]
    """The fixed values of the first positional argument, if it has any."""
    hands_over: bool
    """A positional takes the rest of the line (REMAINDER: `autosrectl claude ARGS`): past the
    command, words belong to the launched program, so completion falls back to file names."""


def _is_path(action: argparse.Action) -> bool:
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    typed_path = action.type is not None and getattr(action.type, "__name__", "") == "Path"
    return typed_path or metavar in {"PATH", "FILE", "DIR"}


def nodes(parser: argparse.ArgumentParser, path: str = "") -> list[Node]:
    """The parser's node and those of all its sub-commands (aliases get their own node, so
    that a path typed with an alias is found too), depth first."""
    options: list[str] = []
    valued: list[str] = []
    path_valued: list[str] = []
    option_choices: list[tuple[str, tuple[str, ...]]] = []
    commands: list[str] = []
    children: list[tuple[str, argparse.ArgumentParser]] = []
    choices: tuple[str, ...] = ()
    hands_over = False
    positionals = 0
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                commands.append(name)
                children.append((name, child))
            continue
        if action.option_strings:
            if action.help == argparse.SUPPRESS:
                continue
            options.extend(action.option_strings)
            if action.nargs != 0:
                valued.extend(action.option_strings)
                if action.choices is not None:
                    values = tuple(str(choice) for choice in action.choices)
                    option_choices.extend((option, values) for option in action.option_strings)
                elif _is_path(action):
                    path_valued.extend(action.option_strings)
            continue
        if action.nargs in (argparse.REMAINDER, argparse.PARSER):
            hands_over = True
        elif positionals == 0 and action.choices is not None:
            choices = tuple(str(choice) for choice in action.choices)
        positionals += 1
    found = [
        Node(
            path=path,
            options=tuple(options),
            valued=tuple(valued),
            path_valued=tuple(path_valued),
            option_choices=tuple(option_choices),
            commands=tuple(commands),
            choices=choices,
            hands_over=hands_over,
        )
    ]
    for name, child in children:
        found.extend(nodes(child, f"{path} {name}".strip()))
    return found


def _table(name: str, entries: dict[str, str]) -> list[str]:
    """A bash associative array. Keys get a leading '@': bash refuses an empty key, and the
    top level's path is empty."""
    lines = [f"declare -gA {name}=("]
    lines += [
        f"    [{shlex.quote('@' + key)}]={shlex.quote(value)}" for key, value in entries.items()
    ]
    lines.append(")")
    return lines


def bash_script(parser: argparse.ArgumentParser) -> str:
    """A bash-completion file for the parser's program (``complete -F``)."""
    found = nodes(parser)
    tables = {
        "commands": {node.path: " ".join(node.commands) for node in found},
        "options": {node.path: " ".join(node.options) for node in found},
        "valued": {node.path: " ".join(node.valued) for node in found},
        "paths": {node.path: " ".join(node.path_valued) for node in found},
        "choices": {node.path: " ".join(node.choices) for node in found},
        "handover": {node.path: "1" for node in found if node.hands_over},
        "option_choices": {
            f"{node.path}|{option}": " ".join(values)
            for node in found
            for option, values in node.option_choices
        },
    }
    lines = [
        f"# bash completion for {PROG} (autosred {__version__}), generated from its argparse",
        "# parser by `python -m autosred.ctl.completion`: regenerate it, do not edit it.",
    ]
    for table, entries in tables.items():
        lines += _table(f"{FUNCTION}_{table}", entries)
    lines += _FUNCTION_BODY.splitlines()
    lines.append(f"complete -F {FUNCTION} {PROG}")
    return "\n".join(lines) + "\n"


# The walk: every word before the cursor either is an option (skipping its value when it
# takes one), a sub-command of the path so far (which then extends the path), or a positional
# argument. Then the word at the cursor is completed from the path's entry. Every lookup has
# a "-" default: the tables have no entry for a path typed wrong, and the user's shell may
# run with `set -u`.
_FUNCTION_BODY = r"""
_autosrectl() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev="" path="" word i skip=0 positionals=0
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((skip)); then
            skip=0
            continue
        fi
        if [[ $word == -* ]]; then
            [[ $word != *=* && " ${_autosrectl_valued[@$path]-} " == *" $word "* ]] && skip=1
            continue
        fi
        if ((positionals == 0)) && [[ " ${_autosrectl_commands[@$path]-} " == *" $word "* ]]; then
            path="${path:+$path }$word"
            continue
        fi
        if [[ -n ${_autosrectl_handover[@$path]-} ]]; then
            # The rest of the line belongs to the program autosrectl launches.
            compopt -o default 2>/dev/null
            return 0
        fi
        ((positionals++))
    done
    if ((skip)); then
        local key="@$path|$prev"
        if [[ -n ${_autosrectl_option_choices[$key]-} ]]; then
            mapfile -t COMPREPLY < <(compgen -W "${_autosrectl_option_choices[$key]-}" -- "$cur")
        elif [[ " ${_autosrectl_paths[@$path]-} " == *" $prev "* ]]; then
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
        return 0
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "${_autosrectl_options[@$path]-}" -- "$cur")
        return 0
    fi
    if ((positionals == 0)); then
        mapfile -t COMPREPLY < <(
            compgen -W "${_autosrectl_commands[@$path]-} ${_autosrectl_choices[@$path]-}" -- "$cur"
        )
    elif [[ -n ${_autosrectl_handover[@$path]-} ]]; then
        compopt -o default 2>/dev/null
    fi
    return 0
}
"""


def main() -> int:
    from autosred.ctl.main import build_parser

    sys.stdout.write(bash_script(build_parser()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
