"""`autosrectl watch` against the real daemon while autosred-sim serves a stream: the live
view in a real terminal (tmux: its keys, an 80×24 screen, the terminal given back sane),
`--once` and the plain print for scripts, `--json`, usage and an absent daemon."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import anthropic
import pytest
import pytest_asyncio

from autosred.admin.schema import WatchLine, parse_watch_line
from tests.ctl.run import COMMAND, clean_env
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

from .tmux import tmux

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEADLINE = 30.0
FAKE_NVML = Path(__file__).resolve().parents[1] / "support" / "fake_nvml"
GPU = {"name": "NVIDIA H200", "total_gib": 141, "free_gib": 100, "util": 37, "temp": 51}
GPU_LINE = "gpu0 NVIDIA H200  mem 41.0G/141.0G 29%  util 37%  51°C  300W"
GPU |= {"power_w": 300}


@dataclass(frozen=True)
class Served:
    daemon: Daemon
    tokens_in: int
    tokens_out: int
    """The usage the SDK read from the stream."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """sim serving, through the official SDK, one streamed Messages request done and one
    held open mid-stream (the server's figures show it running); other stopped."""
    tmp_path = tmp_path_factory.mktemp("watchcmd")
    config = base_config(tmp_path, [sim_recipe(), sim_recipe("other")])
    # One GPU, through the fake NVML (the suite's one OS-edge fake).
    nvml = tmp_path / "gpus.json"
    nvml.write_text(json.dumps({"devices": [GPU]}))
    env = {"PYTHONPATH": str(FAKE_NVML), "AUTOSRED_FAKE_NVML": str(nvml)}
    async with running_daemon(tmp_path, config, env=env) as running:
        client = anthropic.AsyncAnthropic(base_url=running.api_url, api_key="unused")
        async with client.messages.stream(
            model="sim",
            max_tokens=64,
            messages=[{"role": "user", "content": '#sim {"text": "one two three"}'}],
        ) as stream:
            message = await stream.get_final_message()
        held = await client.messages.create(
            model="sim",
            max_tokens=64,
            stream=True,
            messages=[{"role": "user", "content": '#sim {"text": "held open", "hang_after": 1}'}],
        )
        try:
            first = await anext(aiter(held))
            assert first.type == "message_start"
            yield Served(running, message.usage.input_tokens, message.usage.output_tokens)
        finally:
            await held.close()
            await client.close()


@pytest.fixture
def daemon(served: Served) -> Daemon:
    return served.daemon


async def autosrectl(daemon: Daemon, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        "--socket",
        str(daemon.admin_socket),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=clean_env(COLUMNS="120"),
    )
    async with asyncio.timeout(DEADLINE):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def cells(lines: list[str], first: str) -> list[str]:
    """The cells (split at spaces) of the one line whose first cell is ``first``."""
    rows = [line.split() for line in lines if line.split()[:1] == [first]]
    assert len(rows) == 1, (first, lines)
    return rows[0]


def _server_running(lines: list[str]) -> bool:
    """The frame shows sim's server with the held request running."""
    return any(line.split()[:2] == ["sim", "1"] for line in lines)


async def test_once_prints_one_frame_with_the_models_the_request_and_the_servers_figures(
    served: Served,
) -> None:
    """The contract: one frame, exit 0, each model's name and state, and for the running
    model its server's requests running and waiting and KV cache usage."""
    daemon = served.daemon
    # The request finished before the fixture returned, but the frame may predate it, and the
    # server's figures are read once a second: poll with a deadline.
    async with asyncio.timeout(DEADLINE):
        while True:
            rc, out, err = await autosrectl(daemon, "watch", "--once")
            assert rc == 0, err
            if "requests (newest first)" in out and _server_running(out.splitlines()):
                break
            await asyncio.sleep(0.1)
    lines = out.splitlines()
    assert lines[0].startswith("autosred ") and "2 models, 1 ready" in lines[0]
    assert "q quit" not in lines[0], "no keys where nobody can press them"
    model = next(line.split() for line in lines if line.split()[:2] == ["sim", "ready"])
    # sim ready (no note) ETA UP IDLE-IN FLIGHT HELD VRAM; busy, so no idle countdown.
    assert model[4:7] == ["-", "1", "0"], "in flight: the held stream; none held for a wake"
    assert cells(lines, "other")[1] == "stopped"
    server_header = next(i for i, line in enumerate(lines) if line.startswith("SERVER"))
    assert lines[server_header].split()[1:4] == ["RUN", "WAIT", "KV"]
    server = lines[server_header + 1].split()
    assert server[:3] == ["sim", "1", "0"], "the sim's vllm:num_requests_running and waiting"
    assert server[3].endswith("%") and server[3] != "0%", "its KV cache holds the held stream"
    assert GPU_LINE in lines
    assert any(line.startswith("connections  api: 127.0.0.1×") for line in lines)
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["TIME", "SURFACE"])
    request = lines[header + 1].split()
    assert request[1:5] == ["anthropic", "-", "sim", "200"]
    assert request[6:8] == [str(served.tokens_in), str(served.tokens_out)]
    assert out.count("autosred ") == 1, "one frame"


async def test_json_once_prints_the_daemons_frame_line(daemon: Daemon) -> None:
    rc, out, err = await autosrectl(daemon, "watch", "--once", "--json")
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) >= 1
    last = parse_watch_line(json.loads(lines[-1]))
    assert isinstance(last, WatchLine) and last.frame is not None
    assert {m.name: m.state for m in last.frame.models} == {"sim": "ready", "other": "stopped"}


async def test_without_a_terminal_frames_are_printed_one_after_the_other(daemon: Daemon) -> None:
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        "--socket",
        str(daemon.admin_socket),
        "watch",
        "--interval",
        "0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=clean_env(),
    )
    assert proc.stdout is not None
    titles: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while len(titles) < 3:
                line = (await proc.stdout.readline()).decode()
                assert line, "the plain print ended"
                assert "\x1b" not in line, "no escape codes in a pipe"
                if line.startswith("autosred "):
                    titles.append(line)
    finally:
        proc.terminate()
        await proc.communicate()


@pytest.mark.parametrize("interval", ["0", "61", "nan", "soon"])
async def test_an_interval_out_of_bounds_is_a_usage_error(daemon: Daemon, interval: str) -> None:
    rc, _, err = await autosrectl(daemon, "watch", "--interval", interval)
    assert rc == 2
    assert "a number of seconds from 0.1 to 60" in err


async def test_no_daemon_exits_3(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "autosred.ctl",
        "--socket",
        str(tmp_path / "none.sock"),
        "watch",
        "--once",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    out, err = await proc.communicate()
    assert proc.returncode == 3
    assert b"cannot reach autosred" in err and out == b""


async def test_the_live_view_in_an_80x24_terminal(daemon: Daemon, tmp_path: Path) -> None:
    command = f"{sys.executable} -m autosred.ctl --socket {daemon.admin_socket} watch"
    async with tmux(tmp_path) as term:
        await term.type(f"clear; {command} --interval 0.2; echo rc=$?")

        def shown(screen: list[str]) -> bool:
            return (
                screen[0].startswith("autosred ")
                and any(line.split()[1:5] == ["anthropic", "-", "sim", "200"] for line in screen)
                and _server_running(screen)
            )

        screen = await term.until("the model, the request and the server's figures", shown)
        assert await term.pane("alternate_on") == "1"
        assert await term.pane("cursor_flag") == "0"
        # One screen of 80×24, laid out line by line: nothing wrapped onto a line of its own.
        assert len(screen) == 24 and all(len(line) <= 80 for line in screen)
        assert "q quit  m model  l log" in screen[0]
        assert screen[1].split()[:2] == ["MODEL", "STATE"]
        assert cells(screen, "other")[1] == "stopped"
        assert any(line.split()[:2] == ["sim", "ready"] for line in screen)
        assert GPU_LINE in screen
        assert sum(line.startswith("requests") for line in screen) == 1
        assert sum(line.startswith("log (all models)") for line in screen) == 1

        # The model server's own output (the process engine's child), each line named.
        def sim_log(prefix: str) -> Callable[[list[str]], bool]:
            return lambda s: any(x.startswith(f"{prefix}autosred-sim: request") for x in s)

        await term.until("the sim's log lines", sim_log("sim | "))

        await term.keys("m")
        screen = await term.until("sim in focus", lambda s: "focus: sim" in s[0])
        assert cells(screen, ">")[1:3] == ["sim", "ready"]
        assert "log (sim)" in screen
        await term.until("sim's log lines, unnamed", sim_log(""))
        await term.keys("m")
        await term.until("other in focus", lambda s: "focus: other " in s[0])
        await term.keys("m")
        await term.until("all models again", lambda s: "focus: all " in s[0])

        await term.keys("l")
        screen = await term.until(
            "no log pane", lambda s: not any(x.startswith("log (") for x in s)
        )
        assert not sim_log("sim | ")(screen)
        await term.keys("l")
        await term.until("the log pane", lambda s: any(x.startswith("log (") for x in s))

        await term.keys("q")
        await term.until("autosrectl's exit", lambda s: "rc=0" in s)
        await term.assert_sane()

        # Ctrl-C leaves the same way (exit 130).
        await term.type(f"clear; {command}; echo rc=$?")
        await term.until("the view", lambda s: s[0].startswith("autosred "))
        await term.keys("C-c")
        await term.until("autosrectl's exit", lambda s: "rc=130" in s)
        await term.assert_sane()

        # A terminal that cannot move its cursor gets the plain print, frame after frame.
        await term.type(f"clear; TERM=dumb {command} --interval 0.2; echo rc=$?")
        await term.until(
            "two frames",
            lambda s: sum(x.startswith("autosred ") for x in s) >= 2,
            history=True,
        )
        assert await term.pane("alternate_on") == "0"
        await term.keys("C-c")
        await term.until("autosrectl's exit", lambda s: "rc=130" in s)
