"""Any JSON a model sends as a capabilities tool's arguments ends as a tool result: checked
and refused with a sentence, or run (here against a socket nobody listens on, so the CLI's
"cannot reach" line). Nothing raises out of a handler."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.config import CapabilitiesSettings
from autosred.mcp.capabilities import CapabilityTools
from autosred.mcp.tools import ToolResult, ToolSpec

NOT_THERE = Path("/nonexistent/autosred-admin.sock")
TOOLS = {
    spec.name: spec
    for spec in CapabilityTools(
        CapabilitiesSettings(allow=["scale", "models_switch", "reload"]), admin_socket=NOT_THERE
    ).tools()
}
UNREACHABLE = f"autosrectl: cannot reach autosred at {NOT_THERE}"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
# Names the tools know, so that many calls get past the check, and any others.
known = sorted({name for spec in TOOLS.values() for name in spec.input_schema["properties"]})
arguments = st.dictionaries(st.sampled_from(known) | st.text(max_size=12), json_values, max_size=4)
plausible = st.fixed_dictionaries(
    {},
    optional={
        "direction": st.sampled_from(["up", "down", "sideways", ""]),
        "model": st.text(max_size=40),
        "wait": st.booleans(),
        "exit_code": st.booleans(),
    },
)


async def handle(spec: ToolSpec, given_arguments: dict[str, Any]) -> ToolResult:
    return await spec.handler(given_arguments)


def call(spec: ToolSpec, given_arguments: dict[str, Any]) -> None:
    result = asyncio.run(handle(spec, given_arguments))
    assert result.is_error  # nothing listens on the socket: every call fails, as a result
    assert result.text.startswith(("Invalid arguments: ", UNREACHABLE)), result.text
    assert "Traceback" not in result.text


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(TOOLS)), arguments)
def test_any_json_arguments_end_as_a_tool_result(
    name: str, given_arguments: dict[str, Any]
) -> None:
    call(TOOLS[name], given_arguments)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(TOOLS)), plausible)
def test_plausible_arguments_end_as_a_tool_result(
    name: str, given_arguments: dict[str, Any]
) -> None:
    call(TOOLS[name], given_arguments)
