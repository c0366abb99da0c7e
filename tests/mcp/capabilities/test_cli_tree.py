"""The capabilities tools follow autosrectl's command tree: names, schemas, what is offered.

No daemon here: the tools are derived from the parser the CLI runs (or one a test extends),
and a call's arguments are checked against what `autosrectl` itself would parse.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from autosred.config import CapabilitiesSettings
from autosred.ctl.commands import EXIT_OK, Context
from autosred.ctl.main import CHANGES, LAUNCHES, READS, build_parser
from autosred.mcp.capabilities import CapabilityTools
from autosred.mcp.capabilities.arguments import UnsupportedArgument, arguments_of
from autosred.mcp.capabilities.clitree import cli_commands
from autosred.mcp.tools import ToolResult, ToolSpec

READ_ONLY = [
    "status",
    "models",
    "models_running",
    "version",
    "drift",
    "recipe_helm_values",
    "dropbox_cert",
    "dropbox_token_ls",
    "dropbox_ls",
]
CHANGING = [
    "models_switch",
    "scale",
    "reload",
    "recipe_apply",
    "dropbox_token_create",
    "dropbox_token_revoke",
    "dropbox_share",
    "dropbox_rm",
]
NOT_THERE = Path("/nonexistent/autosred-admin.sock")


def tools(*allow: str, parser: argparse.ArgumentParser | None = None) -> dict[str, ToolSpec]:
    group = CapabilityTools(
        CapabilitiesSettings(allow=list(allow)), admin_socket=NOT_THERE, parser=parser
    )
    assert group.name == "capabilities"
    return {spec.name: spec for spec in group.tools()}


def command_words(parser: argparse.ArgumentParser) -> set[tuple[str, ...]]:
    """Every sub-command path the CLI accepts, aliases included (read from argparse here, not
    through the code under test)."""
    paths: set[tuple[str, ...]] = set()

    def walk(node: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        for action in node._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    paths.add((*path, name))
                    walk(child, (*path, name))

    walk(parser, ())
    return paths


def sub_commands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_read_only_commands_are_the_default_tools() -> None:
    listed = tools()
    assert list(listed) == READ_ONLY
    assert all(spec.read_only for spec in listed.values())
    assert listed["models_running"].title == "autosrectl models running"


def test_changing_commands_appear_only_when_allowed() -> None:
    assert not set(CHANGING) & set(tools())
    assert set(tools("scale")) == {*READ_ONLY, "scale"}
    everything = tools(*CHANGING)
    assert set(everything) == {*READ_ONLY, *CHANGING}
    assert [name for name, spec in everything.items() if not spec.read_only] == CHANGING


def test_every_cli_command_is_a_tool_or_has_a_reason_not_to_be() -> None:
    """The tool names cover the CLI's whole tree: each path is a tool, the default of its
    parent (`models list`), an alias (`models available`), a group that only holds
    sub-commands (`recipe`), or launches a program (claude, codex) or an interactive view
    (watch)."""
    parser = build_parser()
    offered = {name.replace("_", " ") for name in tools(*CHANGING)}
    reasons = {
        ("models", "list"): "the default of `models`",
        ("models", "available"): "an alias of `models list`",
        ("recipe",): "holds sub-commands only",
        ("dropbox",): "holds sub-commands only",
        ("dropbox", "token"): "holds sub-commands only",
        ("claude",): "launches Claude Code",
        ("codex",): "launches Codex",
        ("watch",): "an interactive view",
        ("dropbox", "put"): "reads this machine's files (the daemon's, run as a tool)",
        ("dropbox", "get"): "writes this machine's files (the daemon's, run as a tool)",
    }
    for path in sorted(command_words(parser)):
        spoken = " ".join(path).replace("-", " ")
        assert spoken in offered or path in reasons, f"autosrectl {' '.join(path)} is no tool"
    assert {c.name: c.effect for c in cli_commands(parser) if c.effect == LAUNCHES} == {
        "dropbox_put": LAUNCHES,
        "dropbox_get": LAUNCHES,
        "claude": LAUNCHES,
        "codex": LAUNCHES,
        "watch": LAUNCHES,
    }


def test_launching_commands_are_never_tools_and_a_useless_allow_entry_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test.capabilities")
    with caplog.at_level(logging.WARNING, logger="test.capabilities"):
        group = CapabilityTools(
            CapabilitiesSettings(allow=["claude", "codex", "status", "models-switch"]),
            admin_socket=NOT_THERE,
            log=log,
        )
    assert {spec.name for spec in group.tools()} == set(READ_ONLY)
    ignored = {
        record.fields["entry"]: record.fields["reason"]  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == "mcp.capabilities.allow_ignored"
    }
    assert ignored == {
        "claude": "it runs a program of its own and is never a tool",
        "codex": "it runs a program of its own and is never a tool",
        "status": "it only reads and is a tool anyway",
        "models-switch": "no such command",
    }


def test_schemas_come_from_the_arguments() -> None:
    listed = tools(*CHANGING)
    assert listed["status"].input_schema == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    assert listed["scale"].input_schema == {
        "type": "object",
        "properties": {
            "direction": {"type": "string", "enum": ["up", "down"]},
            "model": {"type": "string"},
            "wait": {
                "type": "boolean",
                "default": False,
                "description": "follow progress until the model is ready (up) or stopped "
                "(down); exit 1 on failure",
            },
        },
        "required": ["direction", "model"],
        "additionalProperties": False,
    }
    drift = listed["drift"].input_schema
    assert drift["properties"]["model"]["default"] is None
    assert drift["properties"]["exit_code"]["type"] == "boolean"
    assert "required" not in drift
    assert listed["models_switch"].input_schema["required"] == ["model"]
    assert listed["models_switch"].description.startswith("switch the running model.")
    assert "autosrectl --json models switch" in listed["models_switch"].description


@pytest.mark.parametrize(
    ("name", "arguments", "argv"),
    [
        ("status", {}, ["status"]),
        ("models", {}, ["models"]),
        ("models_running", {}, ["models", "running"]),
        ("models_switch", {"model": "beta"}, ["models", "switch", "beta"]),
        ("models_switch", {"model": "beta", "wait": True}, ["models", "switch", "beta", "--wait"]),
        ("scale", {"direction": "down", "model": "-odd-"}, ["scale", "down", "--", "-odd-"]),
        ("scale", {"direction": "up", "model": "q", "wait": True}, ["scale", "up", "q", "--wait"]),
        ("reload", {}, ["reload"]),
        ("version", {}, ["version"]),
        ("drift", {}, ["drift"]),
        ("drift", {"model": "q", "exit_code": True}, ["drift", "q", "--exit-code"]),
        ("recipe_helm_values", {"model": "q"}, ["recipe", "helm-values", "q"]),
    ],
)
def test_a_call_means_what_the_cli_parses(
    name: str, arguments: dict[str, Any], argv: list[str]
) -> None:
    """The Namespace a call runs with is the one `autosrectl ARGV` parses to."""
    parser = build_parser()
    command = next(c for c in cli_commands(parser) if c.name == name)
    spec = arguments_of(command)
    namespace = spec.namespace(command, spec.model.model_validate(arguments))
    assert vars(namespace) == vars(parser.parse_args(argv))


# A command a test adds to the CLI's parser runs this (found by its "module:function").
def probe(args: argparse.Namespace, ctx: Context) -> int:
    seen = {key: [type(value).__name__, str(value)] for key, value in sorted(vars(args).items())}
    ctx.print_json({"json": ctx.json, "args": seen})
    return EXIT_OK


async def test_a_command_added_to_the_cli_is_a_tool() -> None:
    parser = build_parser()
    commands = sub_commands(parser)
    added = commands.add_parser("probe", help="look at things")
    added.set_defaults(effect=READS, handler=f"{__name__}:probe")
    added.add_argument("target", choices=["a", "b"], help="what to look at")
    added.add_argument("--limit", type=int, default=3, help="at most %(default)s of them")
    added.add_argument("--ratio", type=float)
    added.add_argument("--where", type=Path, default="/tmp/x")
    added.add_argument("--tag", action="append")
    added.add_argument("--quiet", action="store_false", dest="loud")
    added.add_argument("names", nargs="*")
    unmarked = commands.add_parser("wipe", help="remove everything")
    unmarked.set_defaults(handler=f"{__name__}:probe")

    listed = tools(parser=parser)
    assert "wipe" not in listed  # not marked read-only: changes state until it says otherwise
    assert tools("wipe", parser=parser)["wipe"].read_only is False
    schema = listed["probe"].input_schema
    assert schema["required"] == ["target"]
    assert schema["properties"]["target"] == {
        "type": "string",
        "enum": ["a", "b"],
        "description": "what to look at",
    }
    assert schema["properties"]["limit"] == {
        "type": "integer",
        "default": 3,
        "description": "at most 3 of them",
    }
    assert schema["properties"]["loud"] == {"type": "boolean", "default": True}
    assert schema["properties"]["names"]["type"] == "array"
    assert listed["probe"].description.startswith("look at things.")

    result = await listed["probe"].handler(
        {"target": "b", "ratio": 0.5, "names": ["x", "y"], "tag": ["t"]}
    )
    assert result == ToolResult(result.text)
    answer = json.loads(result.text)
    assert answer["json"] is True  # the command ran as `autosrectl --json probe …`
    argv = ["probe", "b", "x", "y", "--ratio", "0.5", "--tag", "t"]
    parsed = vars(parser.parse_args(argv))
    assert answer["args"] == {k: [type(v).__name__, str(v)] for k, v in sorted(parsed.items())}
    assert answer["args"]["where"] == ["PosixPath", "/tmp/x"]


async def test_a_bad_value_for_the_arguments_own_type_is_a_tool_error() -> None:
    parser = build_parser()
    added = sub_commands(parser).add_parser("probe")
    added.set_defaults(effect=READS, handler=f"{__name__}:probe")
    added.add_argument("--port", type=lambda text: int(text, 16) if text else int("x"))
    result = await tools(parser=parser)["probe"].handler({"port": "zz"})
    assert result.is_error
    assert result.text.startswith("Invalid arguments: invalid literal for int()")


def test_an_argument_without_a_tool_form_fails_when_the_tools_are_built() -> None:
    parser = build_parser()
    added = sub_commands(parser).add_parser("louder")
    added.set_defaults(effect=READS, handler=f"{__name__}:probe")
    added.add_argument("-v", action="count")
    with pytest.raises(UnsupportedArgument, match="louder: argument v"):
        tools(parser=parser)


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        ("scale", {"direction": "sideways", "model": "q"}, "direction: Input should be 'up'"),
        ("scale", {"direction": "up"}, "model: Field required"),
        ("scale", {"direction": "up", "model": 7}, "model: Input should be a valid string"),
        ("scale", {"direction": "up", "model": "q", "wait": "yes"}, "wait: Input should be"),
        ("status", {"verbose": True}, "verbose: Extra inputs are not permitted"),
        ("drift", {"socket": "/tmp/other.sock"}, "socket: Extra inputs are not permitted"),
    ],
)
async def test_bad_arguments_are_a_tool_error_naming_the_argument(
    name: str, arguments: dict[str, Any], says: str
) -> None:
    result = await tools(*CHANGING)[name].handler(arguments)
    assert result.is_error
    assert result.text.startswith("Invalid arguments: ")
    assert says in result.text


async def test_an_unreachable_daemon_is_the_clis_error_line() -> None:
    result = await tools()["status"].handler({})
    assert result == ToolResult.error(
        f"autosrectl: cannot reach autosred at {NOT_THERE}: No such file or directory "
        "(is the daemon running?)"
    )


def test_effect_marks_are_the_ctl_constants() -> None:
    assert {c.name: c.effect for c in cli_commands(build_parser())} == {
        "status": READS,
        "models": READS,
        "models_running": READS,
        "models_switch": CHANGES,
        "scale": CHANGES,
        "reload": CHANGES,
        "version": READS,
        "drift": READS,
        "recipe_helm_values": READS,
        "recipe_apply": CHANGES,
        "dropbox_cert": READS,
        "dropbox_token_create": CHANGES,
        "dropbox_token_ls": READS,
        "dropbox_token_revoke": CHANGES,
        "dropbox_share": CHANGES,
        "dropbox_ls": READS,
        "dropbox_rm": CHANGES,
        "dropbox_put": LAUNCHES,
        "dropbox_get": LAUNCHES,
        "claude": LAUNCHES,
        "codex": LAUNCHES,
        "watch": LAUNCHES,
    }


def test_a_sub_command_is_read_only_only_when_marked_itself() -> None:
    """A mark is not inherited: a new sub-command of a read-only command changes state until
    it says otherwise; a command whose default sub-command changes state is not read-only."""
    parser = build_parser()
    models = sub_commands(parser).choices["models"]
    sub_commands(models).add_parser("forget", help="drop a model's history")
    listed = tools(parser=parser)
    assert "models_forget" not in listed
    assert tools("models_forget", parser=parser)["models_forget"].read_only is False

    parser = build_parser()
    models = sub_commands(parser).choices["models"]
    sub_commands(models).choices["list"].set_defaults(effect=CHANGES)
    assert "models" not in tools(parser=parser)
    assert tools("models", parser=parser)["models"].read_only is False
    parser = build_parser()
    sub_commands(parser).choices["status"].set_defaults(effect="typo")
    assert "status" not in tools(parser=parser)


def test_the_models_tool_says_what_it_runs() -> None:
    assert tools()["models"].description == (
        "the configured models, running or not. "
        "Runs `autosrectl --json models` on this daemon and answers its output (JSON)."
    )
