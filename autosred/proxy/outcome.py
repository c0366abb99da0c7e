"""How a request ended, in one value for every surface.

A translator reports ``StreamOutcome`` (its stream's status, usage and error); the request flow
(flow.py) turns that, or whatever ended the request before or around it, into one ``Outcome``
that the request's ``Exchange`` hands to its observers (metrics, logs, the Responses store).
Every surface labels the same ending the same way: see ``Outcome.status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from aiohttp import web

ErrorT = TypeVar("ErrorT")

CLIENT_CLOSED = 499
"""Status recorded (never sent) for a request whose client hung up before its answer ended,
on every surface (nginx's convention)."""
STREAM_ERROR = "stream_error"
"""Status recorded for a stream that had its 200 and then failed in band (an ``error`` event,
``response.failed``, an OpenAI ``data: {"error": …}``)."""


class SurfaceError(Exception):
    """An error in a surface's own envelope: an HTTP status before the 200, its surface's
    failure events after it."""

    status: int

    def response(self, request_id: str) -> web.Response:
        """The HTTP answer (status, envelope, ``Retry-After`` where one applies)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int
    """The prompt, its cached part included."""
    output_tokens: int


StreamStatus = Literal["running", "completed", "failed"]


@dataclass(frozen=True, slots=True)
class StreamOutcome(Generic[ErrorT]):
    """Where a translated stream stands, as its translator saw it."""

    status: StreamStatus
    usage: TokenUsage | None
    """The answer's token counts, once it completed."""
    error: ErrorT | None
    """Why it failed (``status == "failed"``)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one client request ended; recorded once by its ``Exchange``."""

    status: int | str
    """The HTTP status answered; ``STREAM_ERROR`` when a stream failed after its 200;
    ``CLIENT_CLOSED`` when the client hung up first."""
    usage: TokenUsage | None = None
    error: str | None = None
    """What went wrong, for the log."""
    anomalies: tuple[str, ...] = ()
    """Oddities of the model server's stream worth a log line (see chatstream.py)."""
