"""A command's argparse arguments as a tool's arguments: a pydantic model (for the JSON
Schema the client sees and for checking a call) and, from a checked call, the Namespace
argparse would have produced.

Mapping: a positional is required unless it is optional in the CLI (``nargs="?"``, ``"*"``);
an option is never required unless argparse says so; ``store_true``/``store_false`` flags are
booleans; ``choices`` an enum; ``type=int``/``float`` integer/number, anything else a string
that the argument's own ``type`` converts when the command runs; ``nargs="*"``/``"+"`` and
``append`` arrays; defaults as in the CLI. An argument the mapping does not know (a
``REMAINDER``, a ``count``, a custom action) is refused with `UnsupportedArgument` when the
tools are built, so a new kind of argument fails the tests instead of being guessed at.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from autosred.mcp.capabilities.clitree import CliCommand


class UnsupportedArgument(TypeError):
    """A CLI argument that has no faithful JSON Schema form here."""


class ArgumentsBase(BaseModel):
    # Strict: a model that sends "3" for an integer or 1 for a flag is told, not guessed for.
    # No protected namespaces: a CLI argument may well be called `model_name`.
    model_config = ConfigDict(extra="forbid", strict=True, protected_namespaces=())


@dataclass(frozen=True)
class Arguments:
    """A command's arguments: the model that checks a call, and how to make argparse's
    Namespace from what it checked."""

    model: type[ArgumentsBase]
    actions: Mapping[str, argparse.Action]
    """Field name -> the argument it stands for (field names are ``arg0``, ``arg1``…, with the
    argument's ``dest`` as alias, so no name can shadow a pydantic attribute)."""

    def schema(self) -> dict[str, Any]:
        schema = self.model.model_json_schema(by_alias=True)
        # pydantic's titles ("Exit Code") repeat the names; the CLI's help is the description.
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return schema

    def namespace(self, command: CliCommand, checked: ArgumentsBase) -> argparse.Namespace:
        """What ``autosrectl <command> <arguments>`` parses to: every parser's defaults on the
        way down (the command's own last, as argparse copies a sub-parser's namespace over its
        parent's), the sub-command names chosen, then the arguments, converted by their own
        ``type`` as argparse converts a string it reads. Raises ValueError (or TypeError,
        argparse.ArgumentTypeError) when a ``type`` refuses a value."""
        namespace = argparse.Namespace()
        for parser in command.parsers:
            for action in parser._actions:
                if action.dest is not argparse.SUPPRESS and action.default is not argparse.SUPPRESS:
                    setattr(namespace, action.dest, action.default)
            for key, value in parser._defaults.items():
                setattr(namespace, key, value)
        for dest, name in command.chosen.items():
            setattr(namespace, dest, name)
        for field, action in self.actions.items():
            value = getattr(checked, field)
            if field in checked.model_fields_set or isinstance(value, str):
                # argparse converts a string default too, as it converts what it reads.
                value = _convert(action, value)
            setattr(namespace, action.dest, value)
        return namespace


def arguments_of(command: CliCommand) -> Arguments:
    fields: dict[str, Any] = {}
    actions: dict[str, argparse.Action] = {}
    for index, action in enumerate(command.arguments):
        field = f"arg{index}"
        fields[field] = _field(command, action)
        actions[field] = action
    model = create_model(f"{command.name}_arguments", __base__=ArgumentsBase, **fields)
    return Arguments(model=model, actions=actions)


def _field(command: CliCommand, action: argparse.Action) -> tuple[Any, Any]:
    """``(annotation, Field(...))`` for one argument."""
    kind = type(action)
    described: dict[str, Any] = {"alias": action.dest}
    if action.help and action.help is not argparse.SUPPRESS:
        described["description"] = _help(action)
    if kind in (argparse._StoreTrueAction, argparse._StoreFalseAction):
        return bool, Field(default=bool(action.default), **described)
    if kind is argparse._AppendAction:
        return _optional(list[_scalar(command, action)]), Field(default=None, **described)  # type: ignore[misc]
    if kind is not argparse._StoreAction:
        raise UnsupportedArgument(
            f"autosrectl {' '.join(command.path)}: argument {action.dest} "
            f"({kind.__name__}) has no tool form"
        )
    scalar = _scalar(command, action)
    positional = not action.option_strings
    nargs = action.nargs
    annotation: Any
    if nargs is None or nargs == "?":
        annotation = scalar
    elif isinstance(nargs, int) and nargs >= 1:
        annotation = list[scalar]  # type: ignore[valid-type]
        described.update(min_length=nargs, max_length=nargs)
    elif nargs in ("*", "+"):
        annotation = list[scalar]  # type: ignore[valid-type]
        if nargs == "+":
            described["min_length"] = 1
    else:
        raise UnsupportedArgument(
            f"autosrectl {' '.join(command.path)}: argument {action.dest} "
            f"(nargs={nargs!r}) has no tool form"
        )
    # A positional is required unless it may be left out; argparse's own `required` on a
    # positional "*" says True, yet the CLI accepts none (and parses that to []).
    required = nargs not in ("?", "*") if positional else action.required
    if required:
        return annotation, Field(**described)
    default = _default(action)
    if default is None and positional and nargs == "*":
        return annotation, Field(default_factory=list, **described)
    if default is None:
        return _optional(annotation), Field(default=None, **described)
    return annotation, Field(default=default, **described)


def _default(action: argparse.Action) -> Any:
    """The default as the command sees it: argparse converts a string default by the
    argument's type, so a number's default is a number here too."""
    if isinstance(action.default, str) and action.type in (int, float):
        return action.type(action.default)
    return action.default


def _scalar(command: CliCommand, action: argparse.Action) -> Any:
    if action.choices is not None:
        choices = tuple(action.choices)
        if not choices or not all(isinstance(choice, str | int) for choice in choices):
            raise UnsupportedArgument(
                f"autosrectl {' '.join(command.path)}: argument {action.dest} has choices "
                "that are not strings or integers"
            )
        return Literal[choices]
    if action.type is int:
        return int
    if action.type is float:
        return float
    # A string, converted by the argument's own type (Path, a parser function) at call time.
    return str


def _optional(annotation: Any) -> Any:
    return annotation | None


def _help(action: argparse.Action) -> str:
    """The help text as `--help` shows it (``%(default)s`` and the like filled in)."""
    text = action.help or ""
    if "%" not in text:
        return text
    try:
        return text % {**vars(action), "prog": ""}
    except (KeyError, TypeError, ValueError):
        return text


def _convert(action: argparse.Action, value: Any) -> Any:
    convert = action.type
    if convert is None or action.choices is not None:
        return value
    if isinstance(value, list):
        return [_apply(convert, item) for item in value]
    return _apply(convert, value)


def _apply(convert: Any, value: Any) -> Any:
    if isinstance(value, str) and callable(convert):
        return convert(value)
    return value
