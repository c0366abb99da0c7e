"""A minimal HTTP/1.1 client on asyncio streams: sends a request's raw bytes, reads one answer
(Content-Length, chunked, or up to the close), keeps the connection alive when it may."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class RawConnection:
    """One keep-alive connection, reopened after the server closes it."""

    def __init__(self, opener: Opener) -> None:
        self._opener = opener
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(
        self, raw: bytes, *, head: bool = False, half_close: bool = False
    ) -> Answer | None:
        """The answer to ``raw``, or None when the server closed without one. A kept-alive
        connection the server closed before answering is retried once on a new one, as HTTP
        clients do (the server may close an idle connection at any time)."""
        reused = self._streams is not None and not half_close
        answer = await self._exchange(raw, head=head, half_close=half_close)
        if answer is None and reused:
            answer = await self._exchange(raw, head=head, half_close=half_close)
        return answer

    async def _exchange(self, raw: bytes, *, head: bool, half_close: bool) -> Answer | None:
        if self._streams is None or half_close:
            await self.close()
            self._streams = await self._opener()
        reader, writer = self._streams
        try:
            writer.write(raw)
            if half_close:
                writer.write_eof()
            await writer.drain()
            answer = await _read_answer(reader, head=head)
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            return None
        if answer is None or answer.headers.get("connection", "").lower() == "close" or half_close:
            await self.close()
        return answer

    async def close(self) -> None:
        if self._streams is None:
            return
        _, writer = self._streams
        self._streams = None
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _read_answer(reader: asyncio.StreamReader, *, head: bool) -> Answer | None:
    while True:
        try:
            block = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None
            raise
        status_line, *lines = block.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        if status != 100:
            break
    headers: dict[str, str] = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if head or status in (204, 304):
        return Answer(status, headers, b"")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return Answer(status, headers, bytes(body))
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    if "content-length" in headers:
        return Answer(status, headers, await reader.readexactly(int(headers["content-length"])))
    return Answer(status, headers, await reader.read())
