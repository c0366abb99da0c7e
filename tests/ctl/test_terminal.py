"""The live display on a terminal, and what autosrectl imports (its start-up cost)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import sys

from tests.admin.fake_control import FakeControl

from .run import COMMAND, Ctl, clean_env


def _read_terminal(master: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return data
        if not chunk:
            return data
        data += chunk


async def test_scale_wait_on_a_terminal_shows_a_live_display(ctl: Ctl, fake: FakeControl) -> None:
    master, slave = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *COMMAND,
            "--socket",
            str(ctl.socket),
            "scale",
            "up",
            "qwen",
            "--wait",
            stdout=slave,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(TERM="xterm-256color", COLUMNS="100"),
        )
        os.close(slave)
        slave = -1
        # A thread reads the terminal: the event loop must stay free to serve the client.
        screen = await asyncio.get_running_loop().run_in_executor(None, _read_terminal, master)
        _, err = await proc.communicate()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0, err
    raw = screen.decode(errors="replace")
    assert "\x1b[" in raw, "a terminal gets the live (escape-coded) display"
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    for phase in ("scheduling", "pulling image", "loading weights"):
        assert f"✓ {phase}" in text
    assert "qwen: ready (waited " in text
    assert fake.model("qwen").status.state == "ready"


FORBIDDEN = ("pydantic", "aiohttp", "httpx", "rich", "yaml", "prometheus_client", "kubernetes")


async def _modules_after(*argv: str) -> set[str]:
    script = (
        "import json, sys\n"
        "from autosred.ctl.main import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    _, err = await proc.communicate()
    return set(json.loads(err.decode().splitlines()[-1]))


async def test_autosrectl_imports_stay_small() -> None:
    """Start-up time is import time: only the stdlib, admin.schema and ctl itself."""
    for argv in (["--help"], ["--socket", "/nonexistent/admin.sock", "status"]):
        modules = await _modules_after(*argv)
        heavy = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
        assert heavy == [], argv
        ours = sorted(m for m in modules if m.startswith("autosred."))
        assert all(m == "autosred.admin.schema" or m.startswith("autosred.ctl") for m in ours[1:])
        assert ours[0] == "autosred.admin", ours


async def test_help_does_not_import_the_http_client() -> None:
    modules = await _modules_after("--help")
    assert "http.client" not in modules
    assert "autosred.ctl.client" not in modules
