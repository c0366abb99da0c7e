"""A real terminal for the live view: a private tmux server (Debian's tmux), driven with
send-keys and read with capture-pane, polled with a deadline."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

DEADLINE = 30.0
POLL = 0.05


class Tmux:
    def __init__(self, socket: Path) -> None:
        self.socket = socket

    async def run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "tmux",
            "-S",
            str(self.socket),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, f"tmux {' '.join(args)}: {err.decode()}"
        return out.decode()

    async def keys(self, *keys: str) -> None:
        await self.run("send-keys", "-t", "view", *keys)

    async def type(self, line: str) -> None:
        """A shell command line, typed literally, then Enter."""
        await self.run("send-keys", "-t", "view", "-l", line)
        await self.keys("Enter")

    async def screen(self, *, history: bool = False) -> list[str]:
        """The pane's lines as shown now (trailing spaces dropped); with ``history``, the lines
        scrolled off above them first."""
        start = ["-S", "-"] if history else []
        return (await self.run("capture-pane", "-p", *start, "-t", "view")).split("\n")[:-1]

    async def pane(self, variable: str) -> str:
        """A tmux format variable of the pane: cursor_flag, alternate_on, …"""
        return (await self.run("display-message", "-p", "-t", "view", f"#{{{variable}}}")).strip()

    async def child(self) -> int:
        """The process the pane's shell runs now (its one child)."""
        shell = int(await self.pane("pane_pid"))
        (child,) = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
        return int(child)

    async def assert_sane(self) -> None:
        """The shell has the terminal back: main screen, cursor shown, line editing, echo and
        signals from the keyboard."""
        assert await self.pane("alternate_on") == "0"
        assert await self.pane("cursor_flag") == "1"
        await self.type("clear; stty -a")
        screen = await self.until("stty's settings", lambda s: any("icanon" in x for x in s))
        flags = {flag for line in screen for flag in line.replace(";", " ").split()}
        assert {"icanon", "echo", "isig"} <= flags, screen
        assert not {"-icanon", "-echo", "-isig"} & flags, screen

    async def until(
        self, what: str, check: Callable[[list[str]], bool], *, history: bool = False
    ) -> list[str]:
        """The screen once ``check`` holds for it; fails with the last screen at the deadline."""
        screen: list[str] = []
        try:
            async with asyncio.timeout(DEADLINE):
                while True:
                    screen = await self.screen(history=history)
                    if check(screen):
                        return screen
                    await asyncio.sleep(POLL)
        except TimeoutError:
            raise AssertionError(f"never saw {what}; the screen:\n" + "\n".join(screen)) from None


@asynccontextmanager
async def tmux(directory: Path, *, width: int = 80, height: int = 24) -> AsyncIterator[Tmux]:
    """A tmux server of its own with one window running a bare bash, ``width``×``height``."""
    assert shutil.which("tmux"), "tmux is missing: run tests/setup/install-test-deps.sh"
    server = Tmux(directory / "tmux.sock")
    await server.run(
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "view",
        "-x",
        str(width),
        "-y",
        str(height),
        "env PS1='$ ' bash --norc --noprofile",
    )
    try:
        yield server
    finally:
        await server.run("kill-server")
