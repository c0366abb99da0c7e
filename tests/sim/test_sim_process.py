"""The `autosred-sim` process: console script and `python -m`, start-up delay, failed start."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from autosred.sim.main import main

CONSOLE_SCRIPT = Path(sys.executable).with_name("autosred-sim")
DEADLINE = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@asynccontextmanager
async def spawned(*argv: str) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def next_line(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), DEADLINE)
    return line.decode()


async def line_containing(process: asyncio.subprocess.Process, fragment: str) -> list[str]:
    """Read stderr until a line contains `fragment`; return every line read."""
    lines: list[str] = []
    while not lines or fragment not in lines[-1]:
        line = await next_line(process)
        assert line, f"stderr ended before {fragment!r}: {lines}"
        lines.append(line)
    return lines


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="console script not installed")
async def test_console_script_binds_only_after_the_startup_delay(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "scripted hello"}]))
    port = free_port()
    started = time.monotonic()
    argv = (
        str(CONSOLE_SCRIPT),
        *("--port", str(port), "--model", "slow-model", "--startup-delay", "1.5"),
        *("--script", str(script), "--max-model-len", "2048"),
    )
    async with spawned(*argv) as process:
        lines = await line_containing(process, "loading")
        assert (
            lines[0]
            == f"autosred-sim: SIMULATED vLLM (not a real model) model=slow-model port={port}\n"
        )
        assert not await port_open(port)  # alive, loading, and not listening

        lines += await line_containing(process, "ready")
        assert time.monotonic() - started >= 1.5
        assert sum("loading" in line for line in lines) >= 2  # about one line a second

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/v1/models") as response:
                card = (await response.json())["data"][0]
            assert (card["id"], card["max_model_len"], card["simulated"]) == (
                "slow-model",
                2048,
                True,
            )
            async with http.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}]},
            ) as response:
                reply = await response.json()
            assert reply["choices"][0]["message"]["content"] == "scripted hello"

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0


async def test_python_dash_m_fail_start_exits_1_with_the_reason() -> None:
    port = free_port()
    reason = "CUDA out of memory (simulated)"
    argv = (
        sys.executable,
        *("-m", "autosred.sim", "--port", str(port), "--model", "m"),
        *("--startup-delay", "0.2", "--fail-start", reason),
    )
    async with spawned(*argv) as process:
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 1
        assert process.stderr is not None
        stderr = (await process.stderr.read()).decode()
    assert stderr.startswith("autosred-sim: SIMULATED vLLM (not a real model) model=m")
    assert f"start_failed reason={reason}" in stderr
    assert "ready" not in stderr


async def test_a_bad_script_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- text: ok\n- chunk_size: 0\n")
    argv = (sys.executable, "-m", "autosred.sim", "--port", "1", "--model", "m")
    async with spawned(*argv, "--script", str(bad)) as process:
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 2
        assert process.stderr is not None
        assert "chunk_size" in (await process.stderr.read()).decode()


def test_main_takes_an_argv_list() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--model", "m"])  # --port is required
    assert exited.value.code == 2
