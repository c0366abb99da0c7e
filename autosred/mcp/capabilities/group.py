"""The `capabilities` tool group: autosrectl's commands as MCP tools.

Derived from the parser autosrectl runs (`autosred.ctl.main.build_parser`), so a command added
to the CLI is a tool here with no change to this package. Which commands become tools is read
from the mark each command carries in the CLI tree: READS always, CHANGES only when
`mcp.capabilities.allow` names the tool, LAUNCHES (claude, codex, watch) never.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autosred.admin.schema import default_socket_path
from autosred.config import CapabilitiesSettings
from autosred.ctl.main import LAUNCHES, PROG, READS, build_parser
from autosred.mcp.capabilities.arguments import Arguments, arguments_of
from autosred.mcp.capabilities.clitree import CliCommand, cli_commands
from autosred.mcp.capabilities.runner import CommandRunner
from autosred.mcp.tools import ToolResult, ToolSpec, parse_arguments

NAME = "capabilities"


class CapabilityTools:
    """One tool per autosrectl command that may be offered (see the module's docstring)."""

    def __init__(
        self,
        settings: CapabilitiesSettings,
        *,
        admin_socket: Path | None,
        parser: argparse.ArgumentParser | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        """``admin_socket``: the daemon's admin socket (None: the default path, as the daemon
        binds it). ``parser``: the CLI tree to derive from (autosrectl's own by default)."""
        self._log = log or logging.getLogger("autosred.mcp.capabilities")
        self._runner = CommandRunner(admin_socket or default_socket_path())
        commands = cli_commands(parser or build_parser())
        allowed = set(settings.allow)
        self._tools = tuple(
            _CommandTool(command, arguments_of(command), self._runner).spec()
            for command in commands
            if command.effect == READS or (command.effect != LAUNCHES and command.name in allowed)
        )
        self._warn_about_allow(allowed, commands)

    @property
    def name(self) -> str:
        return NAME

    def tools(self) -> Sequence[ToolSpec]:
        return self._tools

    async def close(self) -> None:
        self._runner.close()

    def _warn_about_allow(self, allowed: set[str], commands: Sequence[CliCommand]) -> None:
        """An entry of `allow` that opens nothing is most likely a typo: say so once."""
        by_name = {command.name: command for command in commands}
        for entry in sorted(allowed):
            command = by_name.get(entry)
            if command is None:
                reason = "no such command"
            elif command.effect == LAUNCHES:
                reason = "it runs a program of its own and is never a tool"
            elif command.effect == READS:
                reason = "it only reads and is a tool anyway"
            else:
                continue
            self._log.warning(
                "mcp.capabilities.allow_ignored",
                extra={"fields": {"entry": entry, "reason": reason}},
            )


class _CommandTool:
    def __init__(self, command: CliCommand, arguments: Arguments, runner: CommandRunner) -> None:
        self._command = command
        self._arguments = arguments
        self._runner = runner

    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self._command.name,
            description=_description(self._command),
            input_schema=self._arguments.schema(),
            handler=self._call,
            read_only=self._command.effect == READS,
            title=f"{PROG} {' '.join(self._command.path)}",
        )

    async def _call(self, arguments: Mapping[str, Any]) -> ToolResult:
        checked = parse_arguments(self._arguments.model, arguments)
        if isinstance(checked, ToolResult):
            return checked
        try:
            # An argument's own `type` (a Path, a parser function) may refuse a string.
            namespace = self._arguments.namespace(self._command, checked)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            return ToolResult.error(f"Invalid arguments: {exc}. Fix them and call again.")
        return await self._runner.run(self._command.handler, namespace)


def _description(command: CliCommand) -> str:
    """The CLI's help for the command, then what the tool answers."""
    parts = [text.strip() for text in (command.help, command.description) if text.strip()]
    # The one-line help often leads into the description; say each thing once.
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    sentences = [part if part.endswith(".") else f"{part}." for part in parts]
    sentences.append(
        f"Runs `{PROG} --json {' '.join(command.path)}` on this daemon and answers its output "
        "(JSON)."
    )
    return " ".join(sentences)
