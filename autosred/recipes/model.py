"""The recipe model: what to run, what clients call it, and how it sleeps and wakes."""

from __future__ import annotations

import re
import shlex
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from autosred.config import Duration

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


def _split_command(value: object) -> object:
    if isinstance(value, str):
        return shlex.split(value)
    return value


Command = Annotated[list[str], BeforeValidator(_split_command)]


class Recipe(BaseModel):
    """One model deployment. Keys are documented in etc/autosred/recipes.d/README.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """Identifier: lower-case letters, digits, '.', '_' and '-' (it names files, pods, metrics)."""
    served_model_name: str = ""
    """The model name the upstream server answers to; defaults to ``name``."""
    model: str | None = None
    """Model repository (e.g. Qwen/Qwen3-8B) the server loads."""
    revision: str | None = None
    aliases: list[str] = []
    """Other client-facing names; shell-style globs allowed (``claude-*``)."""
    claude_label: str | None = None
    """The claude-* id advertised on /v1/models for Claude Code's model picker."""
    idle_timeout: Duration = 600.0
    """Scale down after this long with no request in flight; 0 = never."""
    wake_budget: Duration = 300.0
    """A wake that takes longer than this fails and is reported to held clients."""
    hold_cap: int = Field(default=32, ge=0)
    """At most this many requests wait for a wake; more get 503 with Retry-After."""
    max_model_len: int | None = Field(default=None, gt=0)
    """Context length, when the upstream does not report it."""
    command: Command | None = None
    """process engine: argv of the server, with {port}, {host}, {name}, {served_model_name},
    {model} and {python} substituted. A string is split like a shell would."""
    env: dict[str, str] = {}
    """process engine: extra environment of the child."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """process engine: a fixed port; by default a free one is picked at each start."""
    url: str | None = None
    """static engine: this recipe's server, overriding engine.url."""

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        if not _NAME.match(self.name):
            raise ValueError(
                f"name {self.name!r} must be lower-case letters, digits, '.', '_' or '-' "
                "(at most 63, starting and ending with a letter or digit)"
            )
        if not self.served_model_name:
            object.__setattr__(self, "served_model_name", self.name)
        return self

    def client_names(self) -> list[str]:
        """Every literal name a client may send (no globs), in a stable order."""
        names = [self.name, self.served_model_name]
        if self.claude_label:
            names.append(self.claude_label)
        names += [alias for alias in self.aliases if not _is_glob(alias)]
        return list(dict.fromkeys(names))


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")
