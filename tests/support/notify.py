"""A fake systemd NOTIFY_SOCKET: a datagram socket the daemon under test reports to."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path


class NotifyListener:
    """Collects sd_notify datagrams; ``wait_for`` blocks until a matching line arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.setblocking(False)
        self._changed = asyncio.Condition()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self._sock, 65536)
            async with self._changed:
                self.messages.append(data.decode())
                self._changed.notify_all()

    def lines(self) -> list[str]:
        return [line for message in self.messages for line in message.splitlines()]

    async def wait_for(self, line: str, *, after: int = 0, timeout: float = 20.0) -> int:
        """Wait until ``line`` is among the lines received after the first ``after`` lines;
        returns the position just past the match (to chain waits: RELOADING=1, then READY=1)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: line in self.lines()[after:])
        return self.lines().index(line, after) + 1

    async def close(self) -> None:
        self._reader.cancel()
        try:
            await self._reader
        except asyncio.CancelledError:
            pass
        self._sock.close()
        self.path.unlink(missing_ok=True)
