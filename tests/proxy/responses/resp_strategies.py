"""Hypothesis strategies for Responses bodies and vLLM chunk streams (used by the pure and the
HTTP fuzz tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.proxy.responses.resp_helpers import SEALER
from tests.proxy.strategies import json_values, junk_or

ITEM_TYPES = [
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "tool_search_call",
    "tool_search_output",
    "web_search_call",
    "item_reference",
    "local_shell_call",
    "something_new",
]
PART_TYPES = ["input_text", "output_text", "input_image", "input_file", "refusal", "audio"]
parts = st.fixed_dictionaries(
    {"type": junk_or(st.sampled_from(PART_TYPES))},
    optional={
        "text": junk_or(st.text(max_size=8)),
        "image_url": junk_or(st.sampled_from(["data:image/png;base64,AA", "https://x/y.png"])),
        "file_id": json_values,
        "refusal": junk_or(st.text(max_size=8)),
    },
)
content = junk_or(st.text(max_size=12) | st.lists(junk_or(parts), max_size=3))
TOOL_TYPES = ["function", "custom", "namespace", "web_search", "tool_search", "mcp"]
tools = st.fixed_dictionaries(
    {"type": junk_or(st.sampled_from(TOOL_TYPES))},
    optional={
        "name": junk_or(st.sampled_from(["exec_command", "apply_patch", "ns"])),
        "description": junk_or(st.text(max_size=8)),
        "parameters": json_values,
        "format": junk_or(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["grammar", "text"])},
                optional={"definition": junk_or(st.text(max_size=8)), "syntax": json_values},
            )
        ),
        "tools": junk_or(st.lists(json_values, max_size=2)),
        "execution": junk_or(st.sampled_from(["client", "server"])),
    },
)
items = st.fixed_dictionaries(
    {},
    optional={
        "type": junk_or(st.sampled_from(ITEM_TYPES)),
        "role": junk_or(st.sampled_from(["user", "assistant", "system", "developer", "tool"])),
        "content": content,
        "call_id": junk_or(st.sampled_from(["A", "B", "call_x"])),
        "name": junk_or(st.sampled_from(["exec_command", "apply_patch", "spawn_agent"])),
        "namespace": junk_or(st.sampled_from(["multi_agent_v1"])),
        "arguments": junk_or(st.sampled_from(['{"cmd": "ls"}', "{", ""])),
        "input": junk_or(st.text(max_size=8)),
        "output": content,
        "encrypted_content": junk_or(st.sampled_from([SEALER.seal("r"), "asr1.x.y", "gAAAA"])),
        "summary": json_values,
        "execution": junk_or(st.sampled_from(["client", "server"])),
        "tools": junk_or(st.lists(junk_or(tools), max_size=2)),
    },
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": junk_or(st.sampled_from(["gpt-5.5", ""])),
        "input": junk_or(st.text(max_size=8) | st.lists(junk_or(items), max_size=5)),
        "instructions": json_values,
        "tools": junk_or(st.lists(junk_or(tools), max_size=3)),
        "tool_choice": junk_or(
            st.sampled_from(["auto", "none", "required", {"type": "function", "name": "x"}])
        ),
        "parallel_tool_calls": json_values,
        "reasoning": junk_or(st.fixed_dictionaries({}, optional={"effort": json_values})),
        "text": junk_or(st.fixed_dictionaries({}, optional={"format": json_values})),
        "max_output_tokens": json_values,
        "temperature": json_values,
        "top_p": json_values,
        "stream": json_values,
        "store": json_values,
        "include": json_values,
        "previous_response_id": json_values,
        "metadata": json_values,
    },
)


deltas = st.fixed_dictionaries(
    {},
    optional={
        "role": st.just("assistant"),
        "content": junk_or(st.text(max_size=6) | st.just("\n\n")),
        "reasoning": junk_or(st.text(max_size=6)),
        "reasoning_content": junk_or(st.text(max_size=6)),
        "tool_calls": junk_or(
            st.lists(
                st.fixed_dictionaries(
                    {"index": junk_or(st.integers(0, 2))},
                    optional={
                        "id": junk_or(st.sampled_from(["c0", "c1", "c2"])),
                        "function": junk_or(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "name": junk_or(
                                        st.sampled_from(["exec_command", "apply_patch"])
                                    ),
                                    "arguments": junk_or(
                                        st.sampled_from(['{"a":', "1}", '{"input": "p"}', ""])
                                    ),
                                },
                            )
                        ),
                    },
                ),
                max_size=2,
            )
        ),
    },
)
chunks = st.one_of(
    st.builds(
        lambda delta, finish: {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]},
        deltas,
        st.sampled_from([None, None, None, "stop", "length", "tool_calls", "abort", "weird"]),
    ),
    st.builds(
        lambda p, c: {"choices": [], "usage": {"prompt_tokens": p, "completion_tokens": c}},
        st.integers(0, 50),
        st.integers(0, 50),
    ),
    st.just({"error": {"message": "boom", "code": 500}}),
    json_values.filter(lambda value: isinstance(value, dict)),
)
