"""Reply specs, the reply script and the per-request `#sim {json}` directive.

A reply spec says what the simulated model answers and how the answer travels; the keys are
documented in the package docstring (`autosred.sim`) and in `autosred/sim/README.md`. Specs are
validated strictly (unknown keys are errors) so that a typo in a test fails loudly instead of
silently producing the default reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DIRECTIVE_PREFIX = "#sim "

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "abort", "error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolCallSpec(_Strict):
    """One tool call the model makes."""

    name: str
    arguments: dict[str, Any] | list[Any] | str = Field(default_factory=dict)
    """An object (serialised as JSON) or a string sent verbatim (may be invalid JSON on purpose)."""
    id: str | None = None
    """The call id; default `chatcmpl-tool-<32 hex>` derived from the seed."""


class ErrorSpec(_Strict):
    """An HTTP error answered instead of a reply, before any byte of a stream."""

    status: int = Field(ge=400, le=599)
    message: str
    type: str | None = None
    """The error `type`; default derived from the status the way vLLM names it."""
    param: str | None = None


class UsageSpec(_Strict):
    """Overrides of the reported token counts (the generated output does not change)."""

    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)


class ReplySpec(_Strict):
    """What the simulated model answers to one request, and how."""

    match: str | None = None
    """Script only: a regex searched in the last user message; the spec is used only on a match."""
    text: str | None = None
    reasoning: str | None = None
    tool_calls: tuple[ToolCallSpec, ...] = ()
    finish_reason: FinishReason | None = None
    chunk_size: int = Field(default=4, ge=1)
    tokens_per_second: float | None = Field(default=None, ge=0)
    usage: UsageSpec | None = None
    error: ErrorSpec | None = None
    drop_after: int | None = Field(default=None, ge=0)
    hang_after: int | None = Field(default=None, ge=0)
    delay: float = Field(default=0.0, ge=0)
    repeat: int = Field(default=1, ge=1)
    chunks: int | None = Field(default=None, ge=1)
    then: tuple[ReplySpec, ...] = ()
    """The replies that follow in the same agent loop: once the conversation has k assistant
    messages after the last user message (k tool rounds), the reply is ``then[k-1]`` (the
    last one repeating), so one directive scripts a tool call and the answer after it."""

    def for_round(self, round_number: int) -> ReplySpec:
        """The spec for a request with ``round_number`` assistant messages after the last
        user message."""
        if round_number <= 0 or not self.then:
            return self
        return self.then[min(round_number, len(self.then)) - 1]

    @field_validator("match")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:  # not a ValueError, so pydantic would not report it
                raise ValueError(f"invalid regex: {exc}") from exc
        return value


ReplySpec.model_rebuild()


class SpecError(ValueError):
    """A reply spec (script entry or directive) that does not validate."""


def parse_spec(data: object) -> ReplySpec:
    try:
        return ReplySpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_short_validation_message(exc)) from exc


def parse_specs(data: object) -> tuple[ReplySpec, ...]:
    """A script document: a list of specs, or `{"replies": [...]}`."""
    if isinstance(data, dict) and set(data) == {"replies"}:
        data = data["replies"]
    if not isinstance(data, list):
        raise SpecError("a reply script must be a list of reply specs (or {replies: [...]})")
    specs = []
    for position, item in enumerate(data):
        try:
            specs.append(parse_spec(item))
        except SpecError as exc:
            raise SpecError(f"reply spec #{position}: {exc}") from exc
    return tuple(specs)


def load_script_text(text: str) -> tuple[ReplySpec, ...]:
    """Parse YAML or JSON (JSON is YAML) script text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"reply script is neither YAML nor JSON: {exc}") from exc
    return parse_specs([] if data is None else data)


def load_script_file(path: str | Path) -> tuple[ReplySpec, ...]:
    return load_script_text(Path(path).read_text(encoding="utf-8"))


def find_directive(user_text: str) -> ReplySpec | None:
    """The `#sim {json}` line of the last user message, if any (the last such line wins)."""
    found: ReplySpec | None = None
    for line in user_text.splitlines():
        stripped = line.strip()
        if not stripped.startswith(DIRECTIVE_PREFIX):
            continue
        raw = stripped[len(DIRECTIVE_PREFIX) :].strip()
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SpecError(f"#sim directive is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise SpecError("#sim directive must be a JSON object")
        spec = parse_spec(data)
        if spec.match is not None:
            raise SpecError("#sim directive may not use 'match' (it applies to scripts only)")
        found = spec
    return found


class Script:
    """The reply script of one simulator: ordered specs plus `match` specs.

    Selection: the first spec with a `match` regex that matches the last user message wins
    (match specs are never consumed); otherwise the next spec without `match`, in order, the last
    one repeating forever; if the script has no such spec, None (the caller's default reply).
    """

    def __init__(self, specs: Iterable[ReplySpec] = ()) -> None:
        self.specs: tuple[ReplySpec, ...] = tuple(specs)
        self._matchers = [
            (re.compile(spec.match), spec) for spec in self.specs if spec.match is not None
        ]
        self._ordered = [spec for spec in self.specs if spec.match is None]
        self._position = 0

    @property
    def position(self) -> int:
        """How many ordered (non-`match`) specs have been handed out."""
        return self._position

    def choose(self, user_text: str) -> ReplySpec | None:
        for pattern, spec in self._matchers:
            if pattern.search(user_text):
                return spec
        if not self._ordered:
            return None
        spec = self._ordered[min(self._position, len(self._ordered) - 1)]
        self._position += 1
        return spec


def select_reply(user_text: str, script: Script) -> ReplySpec | None:
    """Directive first, then the script; None means 'use the default reply'."""
    directive = find_directive(user_text)
    if directive is not None:
        return directive
    return script.choose(user_text)


def _short_validation_message(exc: ValidationError) -> str:
    parts: Sequence[str] = [
        f"{'.'.join(str(loc) for loc in error['loc']) or '<spec>'}: {error['msg']}"
        for error in exc.errors()
    ]
    return "; ".join(parts)
