"""autosred-sim: a SIMULATED vLLM OpenAI-compatible server (no model, no GPU).

The engine of the demo configuration and the model server behind the test suite and the
benchmarks. It speaks vLLM's protocol (health, version, models, chat completions, completions,
tokenize, metrics), answers deterministically from reply specs, and can simulate slow starts,
failed starts, errors, mid-stream crashes and stalls. It says it is a simulator in its logs
(first line `autosred-sim: SIMULATED vLLM (not a real model) model=NAME port=N`), in
`/v1/models` (`owned_by: "autosred-sim"`, `simulated: true`) and in `/version`. It imports no
other autosred package, and keeps no global state (two simulators can run in one process).

Programmatic use::

    async with running_sim(SimConfig(model="m", max_model_len=4096)) as sim:
        client = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="x")
        ...
        sim.requests()          # what GET /sim/requests answers

`make_app(config=...)` returns the bare aiohttp Application for other runners.

Reply selection (deterministic, per request)
-------------------------------------------
1. A directive: a line `#sim {json}` in the LAST user message's text (string content or any
   text part; for /v1/completions, in the prompt). The JSON object is a reply spec (without
   `match`). If several lines qualify, the last wins. A malformed directive is a 400.
2. The script (`--script FILE`, `SimConfig.script`, or POST /sim/script): the first spec whose
   `match` regex is found (re.search) in the last user message wins, and is not consumed;
   otherwise the next spec without `match`, in order, the last one repeating forever.
3. The default reply: text `Simulated reply to: <first 60 characters of the last user message>`.

Reply spec keys (all optional; unknown keys are rejected)
--------------------------------------------------------
- `match` (str): script only, a regex the last user message must contain for this spec.
- `text` (str): the answer. Default: the default reply above, or "" when `tool_calls` is set.
- `reasoning` (str): streamed first, as `delta.reasoning` (message.reasoning when not streamed).
- `tool_calls` (list of {`name`, `arguments`: object or string, `id`?}): after the text. An
  object is sent as json.dumps(..., ensure_ascii=False); a string verbatim (may be invalid JSON
  on purpose). Default id `chatcmpl-tool-<32 hex>` from the seed. finish_reason "tool_calls".
- `finish_reason` (str): replaces the natural "stop"/"tool_calls"; a stop string or max_tokens
  cut of the request still wins ("stop" / "length").
- `chunk_size` (int, default 4): characters of text (and of reasoning) per chunk; tool-call
  arguments go in pieces of about this size over at least 2 chunks.
- `chunks` (int): exactly this many text chunks (the text is repeated if shorter than that
  many characters); overrides chunk_size for the text. For benchmarks: `{"chunks": 200}`.
- `repeat` (int, default 1): the text repeated this many times.
- `tokens_per_second` (float): pacing of this reply (default the server's; 0 = unpaced).
- `delay` (float seconds): before the first chunk (streaming: after the 200 headers, like
  prefill; non-streaming: before the answer).
- `usage` ({`prompt_tokens`?, `completion_tokens`?}): override the reported counts.
- `error` ({`status`, `message`, `type`?, `param`?}): answer that HTTP error in vLLM's
  envelope instead of a reply, before any byte of a stream (after `delay`).
- `drop_after` (int N): send N output chunks, then close the TCP connection: no finish
  chunk beyond those, no usage chunk, no `[DONE]` (a mid-stream crash). Recorded "failed".
  Not streamed: the connection closes before any response.
- `hang_after` (int N): send N output chunks, then stall until the client goes away;
  recorded "aborted" when it does. Not streamed: stall before any response.
- `then` (list of specs): the rest of an agent loop: a chat request with k assistant
  messages after the last user message gets `then[k-1]` (the last repeating) instead.

Token accounting
----------------
- Prompt tokens: the toy tokenizer (`autosred.sim.tokenizer`) over a toy chat template of the
  messages + tools (+ generation prompt). POST /tokenize with the same messages/tools answers
  the same count as the request's `usage.prompt_tokens`.
- Completion tokens: one per output chunk (a reasoning, text, tool-call start or tool-call
  argument chunk); the initial role chunk does not count. `max_tokens` /
  `max_completion_tokens` cut the output after that many chunks (finish_reason "length").
- Context window: max_tokens > max_model_len, or prompt + max_tokens > max_model_len, is a 400
  with vLLM's current wording (see `autosred.sim.errors`). /v1/completions defaults max_tokens
  to 16, as vLLM does.

Errors use vLLM's envelope `{"error": {"message", "type", "param", "code"}}`; a wrong model name
is a 404 "The model `x` does not exist."; like vLLM, a request without `model` uses the served
model.

Introspection (simulator only; see `autosred.sim.introspection`): GET/DELETE /sim/requests,
GET /sim/requests/{id}?wait=aborted&timeout=5 (long-poll), GET/POST /sim/script, GET /sim/stats.
Every response to a recorded request carries `X-Sim-Request-Id: <id>`.
"""

from autosred.sim.app import make_app
from autosred.sim.config import SimConfig
from autosred.sim.replies import ReplySpec, ToolCallSpec
from autosred.sim.server import SimHandle, running_sim

__all__ = ["ReplySpec", "SimConfig", "SimHandle", "ToolCallSpec", "make_app", "running_sim"]
