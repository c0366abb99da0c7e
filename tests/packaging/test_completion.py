"""autosrectl's bash completion (autosred.ctl.completion, generated at package build time),
loaded into a real bash and asked what it completes, against autosrectl's own parser."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.ctl.completion import bash_script, nodes
from autosred.ctl.main import build_parser

from .support import require_tool, run


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "autosrectl"
    path.write_text(bash_script(build_parser()))
    return path


def complete_many(script: Path, lines: list[list[str]], cwd: Path | None = None) -> list[list[str]]:
    """What bash offers at the end of each command line (the last word is the one being
    completed; "" for a new word), the way bash-completion calls the function."""
    bash = require_tool("bash")
    calls = []
    for words in lines:
        quoted = " ".join(shlex.quote(word) for word in words)
        calls.append(
            f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMPREPLY=(); _autosrectl; "
            'printf "%s\\0" "${COMPREPLY[@]}"; printf "\\1"'
        )
    program = (
        f"set -u; cd {shlex.quote(str(cwd or script.parent))}; source {shlex.quote(str(script))}\n"
    )
    program += "\n".join(calls) + "\n"
    result = run([bash, "--norc", "--noprofile", "-c", program])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    answers = result.stdout.split("\1")[:-1]
    return [sorted(item for item in answer.split("\0") if item) for answer in answers]


def complete(script: Path, *words: str, cwd: Path | None = None) -> list[str]:
    return complete_many(script, [["autosrectl", *words]], cwd)[0]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_bash_accepts_the_script(script: Path) -> None:
    result = run([require_tool("bash"), "-n", str(script)])
    assert result.returncode == 0, result.stderr
    assert script.read_text().rstrip().endswith("complete -F _autosrectl autosrectl")


def test_top_level_offers_every_command(script: Path) -> None:
    assert complete(script, "") == sorted(subcommands(build_parser()))
    assert complete(script, "mo") == ["models"]


def test_sub_commands_aliases_and_choices(script: Path) -> None:
    assert complete(script, "models", "") == ["available", "list", "running", "switch"]
    assert complete(script, "scale", "") == ["down", "up"]
    # After the first positional: no more choices (MODEL is the daemon's to know).
    assert complete(script, "scale", "up", "") == []
    # An option before the command, with its value, does not hide the command.
    assert complete(script, "--socket", "/tmp/s", "models", "sw") == ["switch"]


def test_options_of_the_command_typed(script: Path) -> None:
    assert complete(script, "models", "switch", "--w") == ["--wait"]
    assert "--pem" in complete(script, "dropbox", "cert", "--")
    assert "--pem" not in complete(script, "status", "--")


def test_a_path_option_completes_file_names(script: Path, tmp_path: Path) -> None:
    (tmp_path / "admin.sock").touch()
    (tmp_path / "other").touch()
    assert complete(script, "--socket", "adm", cwd=tmp_path) == ["admin.sock"]


def test_a_launched_program_gets_the_rest_of_the_line(script: Path) -> None:
    """`autosrectl claude ARGS`: the words after belong to Claude Code; no autosrectl
    commands are offered there."""
    assert complete(script, "claude", "-p", "") == []
    assert complete(script, "codex", "exec", "") == []


def test_every_command_path_is_reachable(script: Path) -> None:
    """Typing any command path of the parser reaches its node: the offers there are its
    own sub-commands and positional choices."""
    found = nodes(build_parser())
    lines = [["autosrectl", *node.path.split(), ""] for node in found if not node.hands_over]
    answers = complete_many(script, lines)
    for node, answer in zip([n for n in found if not n.hands_over], answers, strict=True):
        assert answer == sorted({*node.commands, *node.choices}), node.path


@settings(max_examples=40, deadline=None)
@given(
    words=st.lists(
        st.one_of(
            st.sampled_from(["models", "switch", "--socket", "--json", "scale", "up", "-", "--"]),
            st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=8),
        ),
        max_size=6,
    )
)
def test_any_line_completes_without_an_error(words: list[str]) -> None:
    """Whatever was typed (odd bytes, quotes, unknown words), the function answers and bash
    reports no error."""
    text = bash_script(build_parser())
    bash = require_tool("bash")
    quoted = " ".join(shlex.quote(word) for word in ["autosrectl", *words])
    program = (
        f"set -u; cd /; {text}\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; _autosrectl; "
        'printf "%s" "${#COMPREPLY[@]}"'
    )
    result = run([bash, "--norc", "--noprofile", "-c", program])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    json.loads(result.stdout)  # a count
