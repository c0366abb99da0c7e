"""Simulator-only endpoints under /sim/ (no real vLLM has them): what tests assert against.

- GET /sim/requests[?path=P&status=S]  every recorded API request, in arrival order
- DELETE /sim/requests                 forget them (ids keep counting)
- GET /sim/requests/{id}[?wait=W&timeout=T]
      one record; with `wait` (a status, or "finished" for any end state) it long-polls until
      the record reaches it: 200 when reached, 408 with the record at the deadline (T seconds,
      default 5), 404 for an unknown id
- GET /sim/script, POST /sim/script    read / replace the reply script (JSON or YAML body, the
                                       `--script` format); the order cursor restarts
- GET /sim/stats                       lifetime counters
"""

from __future__ import annotations

from aiohttp import web

from autosred.sim.errors import SimHTTPError
from autosred.sim.records import FINISHED
from autosred.sim.replies import SpecError, load_script_text
from autosred.sim.state import SimState

_WAITABLE = FINISHED | {"running", "finished"}


async def list_requests(request: web.Request, state: SimState) -> web.Response:
    path = request.query.get("path")
    status = request.query.get("status")
    return web.json_response([record.to_json() for record in state.log.select(path, status)])


async def clear_requests(request: web.Request, state: SimState) -> web.Response:
    del request
    count = len(state.log.records)
    state.log.clear()
    return web.json_response({"cleared": count})


async def get_request(request: web.Request, state: SimState) -> web.Response:
    try:
        record_id = int(request.match_info["id"])
    except ValueError as exc:
        raise SimHTTPError(400, "request id must be an integer") from exc
    wanted = request.query.get("wait")
    if wanted is None:
        record = state.log.get(record_id)
        if record is None:
            raise SimHTTPError(404, f"no recorded request {record_id}")
        return web.json_response(record.to_json())
    if wanted not in _WAITABLE:
        raise SimHTTPError(400, f"wait must be one of {sorted(_WAITABLE)}")
    try:
        timeout = float(request.query.get("timeout", "5"))
    except ValueError as exc:
        raise SimHTTPError(400, "timeout must be a number of seconds") from exc
    record = await state.log.wait_for(record_id, wanted, timeout)
    if record is None:
        raise SimHTTPError(404, f"no recorded request {record_id}")
    reached = record.status in FINISHED if wanted == "finished" else record.status == wanted
    return web.json_response(record.to_json(), status=200 if reached else 408)


async def get_script(request: web.Request, state: SimState) -> web.Response:
    del request
    specs = [spec.model_dump(exclude_defaults=True) for spec in state.script.specs]
    return web.json_response({"replies": specs, "position": state.script.position})


async def put_script(request: web.Request, state: SimState) -> web.Response:
    text = await request.text()
    try:
        specs = load_script_text(text)
    except SpecError as exc:
        raise SimHTTPError(400, str(exc)) from exc
    state.replace_script(specs)
    return web.json_response({"replies": len(specs)})


async def stats(request: web.Request, state: SimState) -> web.Response:
    del request
    counters = state.counters
    return web.json_response(
        {
            "model": state.model,
            "simulated": True,
            "requests_recorded": len(state.log.records),
            "generations": counters.generations_started,
            "running": counters.running,
            "max_running": counters.max_running,
            "completed": counters.completed,
            "aborted": counters.aborted,
            "failed": counters.failed,
            "prompt_tokens_total": counters.prompt_tokens_total,
            "generation_tokens_total": counters.generation_tokens_total,
            "kv_cache_usage_perc": state.kv_usage(),
            "script_position": state.script.position,
        }
    )
