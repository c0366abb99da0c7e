"""Property tests: malformed input only ever yields the typed 400; streams never raise and
always follow the lifecycle."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autosred.proxy.responses import (
    ResponsesError,
    ResponsesStreamTranslator,
    UpstreamError,
    serialise,
    to_chat_request,
)
from tests.proxy.responses.resp_helpers import SEALER, VIEW, check_lifecycle, decoded
from tests.proxy.responses.resp_strategies import bodies, chunks
from tests.proxy.strategies import junk_or

# AUTOSRED_FUZZ_EXAMPLES=20000 for a long run; the default keeps the suite fast.
SETTINGS = settings(
    max_examples=int(os.environ.get("AUTOSRED_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(body=junk_or(bodies))
def test_any_body_maps_or_is_a_400(body: Any) -> None:
    try:
        request = to_chat_request(body, view=VIEW, sealer=SEALER)
    except ResponsesError as exc:
        assert exc.status == 400 and exc.message
        assert exc.body()["error"]["type"] == "invalid_request_error"
        return
    wire = serialise(request)
    sent = json.loads(wire)
    assert sent["stream"] is True and sent["model"] == VIEW.served_model_name
    assert all(isinstance(message, dict) for message in sent["messages"])
    for tool in sent.get("tools", []):
        assert tool["type"] == "function" and isinstance(tool["function"]["name"], str)


@SETTINGS
@given(
    stream=st.lists(chunks, max_size=12),
    failure=st.sampled_from([None, "closed", "timeout"]),
    single=st.booleans(),
)
def test_any_chunk_sequence_gives_a_valid_lifecycle(
    stream: list[dict[str, Any]], failure: str | None, single: bool
) -> None:
    request = to_chat_request(
        {
            "model": "gpt-5.5",
            "input": "x",
            "tools": [
                {"type": "function", "name": "exec_command"},
                {"type": "custom", "name": "apply_patch"},
            ],
            "parallel_tool_calls": not single,
        },
        view=VIEW,
        sealer=SEALER,
    )
    translator = ResponsesStreamTranslator.for_request(request, sealer=SEALER)
    events = []
    for item in stream:
        events += translator.feed(item)
    error = UpstreamError(failure) if failure is not None else None  # type: ignore[arg-type]
    events += translator.close(error)
    assert translator.finished
    final = check_lifecycle(decoded(events))
    assert final == translator.response()
    assert translator.close() == [] and translator.feed({"choices": []}) == []
