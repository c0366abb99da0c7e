"""SSEDecoder: the ``data`` of every event, however the network splits the bytes and however
the server frames them (vLLM's one-line frames, or anything else the SSE spec allows)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autosred.proxy.sse import SSEDecoder


def reference(stream: bytes) -> list[bytes]:
    """The SSE spec's reading of a whole stream, line by line (only ``data`` kept)."""
    events: list[bytes] = []
    data: list[bytes] = []
    for raw in stream.replace(b"\r\n", b"\n").split(b"\n")[:-1]:  # the last line is unended
        if not raw:
            if data:
                events.append(b"\n".join(data))
                data = []
        elif raw.startswith(b"data:"):
            value = raw[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    return events


def decode(stream: bytes, cuts: list[int]) -> list[bytes]:
    decoder = SSEDecoder()
    events: list[bytes] = []
    start = 0
    for cut in sorted(set(cuts)):
        events += decoder.feed(stream[start:cut])
        start = cut
    return events + decoder.feed(stream[start:])


payloads = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b)
frames = st.one_of(
    payloads.map(lambda p: b"data: " + p + b"\n\n"),  # vLLM's
    payloads.map(lambda p: b"data:" + p + b"\n\n"),
    payloads.map(lambda p: b"data: " + p + b"\r\n\r\n"),
    st.lists(payloads, min_size=1, max_size=3).map(
        lambda ps: b"".join(b"data: " + p + b"\n" for p in ps) + b"\n"
    ),
    payloads.map(lambda p: b": comment " + p + b"\n\n"),
    payloads.map(lambda p: b"event: x\nid: 1\ndata: " + p + b"\n\n"),
    st.just(b"\n"),
    st.just(b"data: [DONE]\n\n"),
)


@given(st.lists(frames, max_size=12), st.lists(st.integers(0, 600), max_size=8))
def test_events_are_those_of_the_spec_however_the_bytes_are_cut(
    parts: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(parts)
    assert decode(stream, cuts) == reference(stream)


@given(st.lists(payloads, max_size=20), st.integers(1, 64))
def test_vllm_frames_read_in_pieces(items: list[bytes], size: int) -> None:
    stream = b"".join(b"data: " + item + b"\n\n" for item in items)
    assert decode(stream, list(range(size, len(stream), size))) == items


def test_an_event_cut_off_before_its_blank_line_is_never_returned() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\n\ndata: {"b"') == [b'{"a":1}']
    assert decoder.feed(b":2}\n") == []
    assert decoder.feed(b"data: more\n") == []
    assert decoder.feed(b"\n") == [b'{"b":2}\nmore']
