"""The load generator, run in its own process: ``python -m bench.loadgen 'SPEC-JSON'``.

It talks to the daemon or the simulator with `bench.client` and reports on stdout, one JSON
object per line: progress events (``{"event": "window_start"}``, ...) that the parent acts on
while the load runs, then ``{"event": "result", ...}``. Modes (the SPEC's ``mode``):

``throughput``
    ``concurrency`` closed-loop workers, each on its own kept-alive connection, send ``body``
    to ``path`` back to back. ``warmup`` seconds after every worker has received its first
    event (or ``open_timeout`` seconds, default 10, after the start) a measurement window of
    ``duration`` seconds opens: SSE events received inside it, and requests that end inside
    it, are counted. At the end of the window every stream still open is dropped.
``ttfb``
    ``pairs`` rounds of one request to each of ``targets`` (in turn, the order alternating each
    round to cancel drift), sequentially, each target on its own kept-alive connection. A
    target may carry its own ``path``, ``body``, ``headers`` and ``event_marker`` (default: the
    spec's). Reports per request the time to the first response byte and to the first SSE
    event.
``hold``
    ``concurrency`` streams opened at once; when all have delivered their first event it
    prints ``{"event": "open"}`` and keeps reading until a line arrives on stdin, then drops
    the streams.

Every mode sends ``body`` (JSON) to ``path`` with the optional extra ``headers``, and counts
as one event each line of the response that starts with ``event_marker``: ``data:`` (the
default; OpenAI chat chunks) or ``event:`` (Anthropic Messages, OpenAI Responses). Instead of
those four, a spec (or a ttfb target) may name a request kind of `bench.routes`:
``{"request": "chat" | "chat_usage" | "messages" | "responses", "model": M, "reply": {#sim
reply spec}, "token": T}`` (`bench.routes.expand`). Requests whose status is not 200, or
(``expect_events``) whose event count differs, count as errors.
``cpu_seconds`` is this process's own CPU time over the measured part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from typing import Any

from bench.client import DATA, Connection, Target
from bench.routes import expand


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _target(spec: dict[str, Any]) -> Target:
    return Target(str(spec["host"]), int(spec["port"]))


def _body(spec: dict[str, Any]) -> bytes:
    return json.dumps(spec["body"], separators=(",", ":")).encode()


def _request(target: Target, spec: dict[str, Any]) -> bytes:
    headers = {str(k): str(v) for k, v in dict(spec.get("headers") or {}).items()}
    return target.post(str(spec["path"]), _body(spec), headers)


def _marker(spec: dict[str, Any]) -> str:
    return str(spec.get("event_marker", DATA))


async def throughput(spec: dict[str, Any]) -> dict[str, Any]:
    target = _target(spec)
    request = _request(target, spec)
    marker = _marker(spec)
    expected: int | None = spec.get("expect_events")
    concurrency = int(spec["concurrency"])
    # The window opens `warmup` seconds after every worker has had its first event (at most
    # `open_timeout` seconds after the start): a slow proxy's first requests are set up first.
    window = {"start": float("inf"), "end": float("inf")}
    counts = {"events": 0, "requests": 0, "errors": 0, "started": 0, "streaming": 0}
    streaming = asyncio.Event()

    def in_window(moment: float) -> bool:
        return window["start"] <= moment < window["end"]

    async def worker() -> None:
        connection = Connection(target)
        first = True

        def on_events(found: int) -> None:
            nonlocal first
            if first:
                first = False
                counts["streaming"] += 1
                if counts["streaming"] == concurrency:
                    streaming.set()
            if in_window(time.perf_counter()):
                counts["events"] += found

        try:
            while time.perf_counter() < window["end"]:
                counts["started"] += 1
                try:
                    reply = await connection.exchange(request, on_events, marker=marker)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    counts["errors"] += 1
                    await asyncio.sleep(0.01)
                    continue
                if reply.status != 200 or (expected is not None and reply.events != expected):
                    counts["errors"] += 1
                elif in_window(reply.ended_at):
                    counts["requests"] += 1
        finally:
            connection.close()

    begin = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(float(spec.get("open_timeout", 10.0))):
            await streaming.wait()
    opened = time.perf_counter() - begin
    await asyncio.sleep(float(spec["warmup"]))
    window["start"] = time.perf_counter()
    window["end"] = window["start"] + float(spec["duration"])
    cpu_start = own_cpu_seconds()
    emit("window_start")
    await asyncio.sleep(max(0.0, window["end"] - time.perf_counter()))
    emit("window_end")
    cpu = own_cpu_seconds() - cpu_start
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return {
        "duration": float(spec["duration"]),
        "events": counts["events"],
        "requests": counts["requests"],
        "errors": counts["errors"],
        "cpu_seconds": cpu,
        "opened_seconds": opened,
    }


async def ttfb(spec: dict[str, Any]) -> dict[str, Any]:
    # Each target's own settings over the spec's.
    specs = [{**spec, **target} for target in spec["targets"]]
    targets = [_target(one) for one in specs]
    requests = [_request(target, one) for target, one in zip(targets, specs, strict=True)]
    markers = [_marker(one) for one in specs]
    expected: list[int | None] = [one.get("expect_events") for one in specs]
    connections = [Connection(t) for t in targets]
    first_byte: list[list[float]] = [[] for _ in targets]
    first_event: list[list[float]] = [[] for _ in targets]
    errors = [0 for _ in targets]
    cpu_start = own_cpu_seconds()
    try:
        for _ in range(2):  # connect, and let both paths allocate what they keep
            for index, connection in enumerate(connections):
                await connection.exchange(requests[index], marker=markers[index])
        for round_ in range(int(spec["pairs"])):
            order = range(len(targets)) if round_ % 2 == 0 else reversed(range(len(targets)))
            for index in order:
                reply = await connections[index].exchange(requests[index], marker=markers[index])
                wanted = expected[index]
                if reply.status != 200 or (wanted is not None and reply.events != wanted):
                    errors[index] += 1
                first_byte[index].append(reply.first_byte_at - reply.sent_at)
                event_at = reply.first_event_at if reply.first_event_at else reply.ended_at
                first_event[index].append(event_at - reply.sent_at)
    finally:
        for connection in connections:
            connection.close()
    return {
        "first_byte": first_byte,
        "first_event": first_event,
        "errors": sum(errors),
        "errors_per_target": errors,
        "cpu_seconds": own_cpu_seconds() - cpu_start,
    }


async def hold(spec: dict[str, Any]) -> dict[str, Any]:
    target = _target(spec)
    request = _request(target, spec)
    marker = _marker(spec)
    concurrency = int(spec["concurrency"])
    opened = asyncio.Event()
    state = {"open": 0, "events": 0, "errors": 0}

    async def stream() -> None:
        connection = Connection(target)
        seen = False

        def on_events(found: int) -> None:
            nonlocal seen
            state["events"] += found
            if not seen:
                seen = True
                state["open"] += 1
                if state["open"] == concurrency:
                    opened.set()

        try:
            reply = await connection.exchange(request, on_events, marker=marker)
            if reply.status != 200:
                state["errors"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            state["errors"] += 1
        finally:
            connection.close()

    streams = [asyncio.create_task(stream()) for _ in range(concurrency)]
    try:
        async with asyncio.timeout(float(spec.get("open_timeout", 30.0))):
            await opened.wait()
    except TimeoutError:
        emit("failed", reason=f"only {state['open']} of {concurrency} streams opened")
    else:
        emit("open", streams=state["open"])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)
    for task in streams:
        task.cancel()
    await asyncio.gather(*streams, return_exceptions=True)
    return {"open": state["open"], "events": state["events"], "errors": state["errors"]}


MODES = {"throughput": throughput, "ttfb": ttfb, "hold": hold}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.loadgen 'SPEC-JSON'", file=sys.stderr)
        return 2
    spec = expand(json.loads(argv[0]))
    if "targets" in spec:
        spec["targets"] = [expand(target) for target in spec["targets"]]
    mode = MODES[spec["mode"]]
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(mode(spec))
        emit("result", **result)
        return 0
    return 130


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
