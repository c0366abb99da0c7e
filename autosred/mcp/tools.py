"""What a tool group gives the MCP host: its tools, each a JSON Schema and a handler.

The host (one MCP server per group, at ``/mcp/<group.name>``) lists the tools, validates
nothing itself, and turns every handler's :class:`ToolResult` into a ``CallToolResult``.
A handler never raises for a failure the model can act on (a refused address, a timeout,
bad arguments): it returns ``ToolResult.error`` with a sentence saying what to do. An
exception out of a handler is a bug; the host logs it and answers a generic tool error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Image:
    """An image in a tool's answer (MCP image content): the encoded bytes and their type."""

    data: bytes
    mime_type: str


@dataclass(frozen=True)
class ResourceItem:
    """A resource a group serves (``resources/list``), or links to from an answer (MCP
    resource link content)."""

    uri: str
    name: str
    mime_type: str
    size: int
    description: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """A tool's answer: text for the model, and whether it is an error (``isError``);
    ``images`` follow the text (a screenshot), then ``links`` (a saved PDF)."""

    text: str
    is_error: bool = False
    images: tuple[Image, ...] = ()
    links: tuple[ResourceItem, ...] = ()

    @classmethod
    def error(cls, text: str) -> ToolResult:
        return cls(text, is_error=True)


@dataclass(frozen=True)
class CallContext:
    """Who a call came from, for tools whose state lives in the client's MCP session."""

    session: str
    """The MCP session's id; for a request outside any session (the 2026-07-28 single
    exchange), ``client:<token name>``, so one client's sessionless calls share a state."""
    client: str
    """The client token's name ("-" without tokens)."""


Handler = Callable[[Mapping[str, Any]], Awaitable[ToolResult]]
SessionHandler = Callable[[Mapping[str, Any], CallContext], Awaitable[ToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    """One tool as listed by ``tools/list`` and called by ``tools/call``."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    handler: Handler
    read_only: bool = True
    """Whether the tool changes nothing (MCP's ``readOnlyHint``)."""
    title: str | None = None
    session_handler: SessionHandler | None = None
    """When set, what the host calls instead of ``handler``, with the call's
    :class:`CallContext` (the browser's tools, whose state is the session's); ``handler``
    is then the same tool for a caller outside any session."""


class ToolGroup(Protocol):
    """One MCP server's worth of tools (fetch, search, capabilities, later browser)."""

    @property
    def name(self) -> str:
        """The path segment (``/mcp/<name>``), the client-side server name's suffix
        (``autosred-<name>``) and the ``server`` label on the metrics."""
        ...

    def tools(self) -> Sequence[ToolSpec]: ...

    async def close(self) -> None:
        """Release what the group holds (HTTP sessions, threads); called once at shutdown."""
        ...


@runtime_checkable
class ResourceSource(Protocol):
    """A group that serves resources (``resources/list``, ``resources/read``): the
    browser's saved PDFs and screenshots."""

    async def list_resources(self) -> Sequence[ResourceItem]: ...

    async def read_resource(self, uri: str) -> tuple[bytes, str] | None:
        """The resource's bytes and media type; None when there is no such resource."""
        ...


@runtime_checkable
class SessionAware(Protocol):
    """A group that keeps state per MCP session (the browser's contexts) and is told when a
    session ends (the client's DELETE)."""

    async def session_ended(self, session: str) -> None: ...


ArgsT = TypeVar("ArgsT", bound=BaseModel)


def parse_arguments(model: type[ArgsT], arguments: Mapping[str, Any]) -> ArgsT | ToolResult:
    """The arguments as ``model``, or a tool error naming each bad argument (the model can
    correct and retry; a protocol error would read as a broken server)."""
    try:
        return model.model_validate(dict(arguments))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'arguments'}: {error['msg']}"
            for error in exc.errors()
        )
        return ToolResult.error(f"Invalid arguments: {problems}. Fix them and call again.")


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of an arguments model, as ``inputSchema`` wants it."""
    return model.model_json_schema()
