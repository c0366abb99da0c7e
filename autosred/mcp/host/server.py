"""One tool group as one MCP server (the SDK's low-level ``Server``): tools/list, tools/call.

The group's ``ToolSpec``s become MCP tools as they are (the schema, ``readOnlyHint``, the
title). A call is timed, counted and logged by ``CallLog``; what a handler raises is a bug in
the group, so it is logged with its traceback and the model gets a generic ``isError``
result: never a protocol error (which a client shows as a broken server) and never a dropped
connection. A name no tool has is the protocol's error (``-32602``), as the specification
says for an unknown tool.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.exceptions import MCPError

from autosred.mcp.host.calls import CallLog
from autosred.mcp.tools import (
    CallContext,
    ResourceItem,
    ResourceSource,
    ToolGroup,
    ToolResult,
    ToolSpec,
)

CLIENT_STATE_KEY = "autosred.client"
"""The ASGI scope's ``state`` entry naming the client (its token's name, or "-")."""

SERVER_VERSION = "1"
RESOURCE_NOT_FOUND = -32002
"""The JSON-RPC error the specification names for a resource that does not exist."""


def tool_server(group: ToolGroup, *, calls: CallLog, log: logging.Logger) -> Server[Any]:
    """An MCP server named ``autosred-<group.name>`` serving the group's tools."""
    specs = {spec.name: spec for spec in group.tools()}
    listed = types.ListToolsResult(tools=[_as_tool(spec) for spec in specs.values()])
    server_name = group.name

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        # One page: a group has a handful of tools.
        return listed

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        client = _client_of(ctx)
        spec = specs.get(params.name)
        if spec is None:
            calls.unknown_tool(server=server_name, name=params.name, client=client)
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Unknown tool: {params.name}. Tools here: {', '.join(specs)}.",
            )
        started = time.perf_counter()
        arguments = params.arguments or {}
        try:
            if spec.session_handler is not None:
                call = CallContext(session=_session_of(ctx, client), client=client)
                result = await spec.session_handler(arguments, call)
            else:
                result = await spec.handler(arguments)
        except Exception:
            log.exception(
                "mcp.tool_crashed",
                extra={"fields": {"server": server_name, "tool": spec.name, "client": client}},
            )
            calls.finished(
                server=server_name,
                tool=spec.name,
                outcome="crashed",
                seconds=time.perf_counter() - started,
                client=client,
            )
            return _as_result(
                ToolResult.error(
                    f"The {spec.name} tool failed inside the daemon (a bug, logged there). "
                    "Calling it again with the same arguments will likely fail the same way."
                )
            )
        calls.finished(
            server=server_name,
            tool=spec.name,
            outcome="tool_error" if result.is_error else "ok",
            seconds=time.perf_counter() - started,
            client=client,
        )
        return _as_result(result)

    if not isinstance(group, ResourceSource):
        return Server(
            f"autosred-{group.name}",
            version=SERVER_VERSION,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
        )
    source = group

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        items = await source.list_resources()
        return types.ListResourcesResult(resources=[_as_resource(item) for item in items])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        found = await source.read_resource(str(params.uri))
        if found is None:
            raise MCPError(
                code=RESOURCE_NOT_FOUND, message=f"No resource {str(params.uri)[:200]} here."
            )
        data, mime_type = found
        blob = base64.b64encode(data).decode("ascii")
        return types.ReadResourceResult(
            contents=[types.BlobResourceContents(uri=params.uri, mime_type=mime_type, blob=blob)]
        )

    return Server(
        f"autosred-{group.name}",
        version=SERVER_VERSION,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


def _as_tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=dict(spec.input_schema),
        annotations=types.ToolAnnotations(title=spec.title, read_only_hint=spec.read_only),
    )


def _as_resource(item: ResourceItem) -> types.Resource:
    return types.Resource(
        uri=item.uri,
        name=item.name,
        mime_type=item.mime_type,
        size=item.size,
        description=item.description,
    )


def _as_result(result: ToolResult) -> types.CallToolResult:
    content: list[types.ContentBlock] = [types.TextContent(type="text", text=result.text)]
    content += [
        types.ImageContent(
            type="image",
            data=base64.b64encode(image.data).decode("ascii"),
            mime_type=image.mime_type,
        )
        for image in result.images
    ]
    content += [
        types.ResourceLink(
            type="resource_link",
            uri=link.uri,
            name=link.name,
            mime_type=link.mime_type,
            size=link.size,
            description=link.description,
        )
        for link in result.links
    ]
    return types.CallToolResult(content=content, is_error=result.is_error)


def _session_of(ctx: ServerRequestContext[Any], client: str) -> str:
    """The request's MCP session id (the header the SDK checked), else the client's key."""
    headers = getattr(ctx.request, "headers", None)
    session = headers.get(MCP_SESSION_ID_HEADER) if headers is not None else None
    return session if isinstance(session, str) and session else f"client:{client}"


def _client_of(ctx: ServerRequestContext[Any]) -> str:
    """The client token's name the HTTP request carried (put in the scope by the mount)."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return "-"
    state = scope.get("state")
    if not isinstance(state, dict):
        return "-"
    client = state.get(CLIENT_STATE_KEY, "-")
    return client if isinstance(client, str) else "-"
