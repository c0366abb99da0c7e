"""`python -m bench.hotpath`: the translating relays' own work per event, in this process.

    python -m bench.hotpath [--read 4096] [--streams 300] [--repeat 7]

Records the benchmark's 200-chunk answer (`bench.scenarios.stream_reply`) from a simulator,
once with each ``stream_options`` a relay may ask for, then replays those bytes, cut into
network reads of ``--read`` bytes, through what the daemon does per event: ``SSEDecoder``,
``parse_chunk``, the surface's translator and its ``encode_events``, one encode per read as
the relay writes. Prints the CPU time (``time.process_time``) per event the client would get,
the least of ``--repeat`` runs of ``--streams`` streams each.

What this leaves out (aiohttp, the event loop, the sockets, the per-request work) is what
`bench.run`'s daemon CPU per event adds on top; this part is the translators' own, and it
holds steady on a busy machine, where the daemon-wide figure does not.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autosred.proxy.anthropic.events import encode_events as encode_messages
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.stream import MessageStreamTranslator
from autosred.proxy.chatstream import ChatStreamTranslator
from autosred.proxy.fastjson import parse_chunk
from autosred.proxy.responses.events import encode_events as encode_responses
from autosred.proxy.responses.reasoning import ReasoningSealer
from autosred.proxy.responses.stream import ResponsesStreamTranslator
from autosred.proxy.sse import SSEDecoder
from bench.daemon import SERVED, Sim, running_sim
from bench.routes import chat_body
from bench.scenarios import stream_reply

KEY = b"bench-hotpath-key-0123456789"
USAGE_OPTIONS: dict[str, dict[str, bool] | None] = {
    "none": None,
    "include_usage": {"include_usage": True},
    "continuous_usage_stats": {"include_usage": True, "continuous_usage_stats": True},
}
"""The ``stream_options`` a recording may be made with (the relays ask for include_usage)."""

Translator = ChatStreamTranslator[Any, Any, Any]
SURFACES: dict[str, tuple[Callable[[], Translator], Callable[[list[Any]], bytes]]] = {
    "/v1/messages": (
        lambda: MessageStreamTranslator(
            model="bench", signer=ThinkingSigner(KEY), prompt_estimate=lambda: 40
        ),
        encode_messages,
    ),
    "/v1/responses": (
        lambda: ResponsesStreamTranslator(model="bench", sealer=ReasoningSealer(KEY)),
        encode_responses,
    ),
}


def record(sim: Sim, options: dict[str, bool] | None, chunks: int) -> bytes:
    """The simulator's SSE bytes for the benchmark's answer, asked with ``options``."""
    body = chat_body(SERVED, stream_reply(chunks))
    if options is not None:
        body["stream_options"] = options
    connection = http.client.HTTPConnection(sim.host, sim.port, timeout=30)
    try:
        connection.request(
            "POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise SystemExit(f"simulator answered {response.status}: {data[:200]!r}")
    return data


def replay(
    reads: list[bytes], new: Callable[[], Translator], encode: Callable[[list[Any]], bytes]
) -> int:
    """One stream through the relay's per-event work; the events the client gets."""
    translator = new()
    decoder = SSEDecoder()
    sent = 0
    for data in reads:
        events: list[Any] = []
        for payload in decoder.feed(data):
            if payload == b"[DONE]":
                break
            chunk = parse_chunk(payload)
            if not isinstance(chunk, dict):
                raise SystemExit(f"not a chunk: {payload[:80]!r}")
            events += translator.feed(chunk)
        if events:
            encode(events)
            sent += len(events)
    tail = translator.close()
    if tail:
        encode(tail)
    return sent + len(tail)


def measure(
    stream: bytes,
    surface: str,
    *,
    read: int,
    streams: int,
    repeat: int,
) -> tuple[float, int]:
    """CPU µs per client event (least of ``repeat`` runs) and events per stream."""
    new, encode = SURFACES[surface]
    reads = [stream[i : i + read] for i in range(0, len(stream), read)]
    events = replay(reads, new, encode)
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(streams):
            replay(reads, new, encode)
        best = min(best, time.process_time() - start)
    return best / (streams * events) * 1e6, events


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--read", type=int, default=4096, help="bytes per network read")
    parser.add_argument("--streams", type=int, default=300, help="streams per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs; the least is shown")
    parser.add_argument("--chunks", type=int, default=200, help="text chunks per answer")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autosred-hotpath-") as tmp:
        with running_sim(Path(tmp)) as sim:
            recorded = {
                name: record(sim, options, args.chunks) for name, options in USAGE_OPTIONS.items()
            }
    print("| surface | upstream stream_options | bytes per answer | events | CPU µs per event |")
    print("|---|---|---|---|---|")
    for surface in SURFACES:
        for name, stream in recorded.items():
            per_event, events = measure(
                stream, surface, read=args.read, streams=args.streams, repeat=args.repeat
            )
            print(f"| {surface} | {name} | {len(stream):,} | {events} | {per_event:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
