"""Responses SSE events: a type, a JSON payload with its ``sequence_number``, and wire bytes.

Frames are ``event: <type>\\ndata: <json>\\n\\n`` as OpenAI sends them (clients read ``type``
from the JSON; Codex and the SDK ignore the ``event:`` line). Delta events are most of a
stream, so their JSON is a template prepared once per output item around the sequence number
and one string: one ``%`` format and one UTF-8 encode per delta, no JSON encoder. Their
``data`` dict is only built when something (a test) asks for it. Other payloads are encoded by
proxy/fastjson.py.
"""

from __future__ import annotations

import secrets
from json.encoder import encode_basestring  # C-accelerated; JSON's string escaping
from typing import Any

from autosred.proxy.fastjson import dumps, dumps_str

_TAIL = b"\n\n"


def new_id(prefix: str) -> str:
    """``resp_…``, ``msg_…``, ``rs_…``, ``fc_…``, ``ctc_…``: a prefix and 24 hex digits."""
    return f"{prefix}_{secrets.token_hex(12)}"


def _head(kind: str) -> bytes:
    return f"event: {kind}\ndata: ".encode("ascii")


class Event:
    """One SSE frame; ``data["type"] == type`` and ``data["sequence_number"]`` is set."""

    __slots__ = ("_data", "type")

    def __init__(self, type: str, data: dict[str, Any]) -> None:
        self.type = type
        self._data = data

    @property
    def data(self) -> dict[str, Any]:
        return self._data

    @property
    def sequence_number(self) -> int:
        number: int = self.data["sequence_number"]
        return number

    def encode(self) -> bytes:
        return _head(self.type) + dumps(self._data) + _TAIL

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and other.type == self.type and other.data == self.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Event({self.type!r}, {self.data!r})"


def event(kind: str, seq: int, **fields: Any) -> Event:
    return Event(kind, {"type": kind, "sequence_number": seq, **fields})


class Lifecycle(Event):
    """A ``response.*`` lifecycle event whose response object was encoded once for several
    events (``created`` and ``in_progress`` repeat it, tools and all)."""

    __slots__ = ("_encoded", "_response", "_seq")

    def __init__(self, kind: str, seq: int, response: dict[str, Any], encoded: bytes) -> None:
        self.type = kind
        self._seq = seq
        self._response = response
        self._encoded = encoded

    @property
    def data(self) -> dict[str, Any]:
        return {"type": self.type, "sequence_number": self._seq, "response": self._response}

    def encode(self) -> bytes:
        head = (
            f'event: {self.type}\ndata: {{"type":"{self.type}","sequence_number":{self._seq},'
            '"response":'
        )
        return head.encode("utf-8", "replace") + self._encoded + b"}\n\n"


def lifecycle(kinds: tuple[str, ...], first_seq: int, response: dict[str, Any]) -> list[Event]:
    """Consecutive lifecycle events sharing one snapshot of the response object."""
    encoded = dumps(response)
    return [Lifecycle(kind, first_seq + i, response, encoded) for i, kind in enumerate(kinds)]


def encode_events(events: list[Event]) -> bytes:
    """All frames of one feed/close call, for a single write."""
    if len(events) == 1:
        return events[0].encode()
    return b"".join(item.encode() for item in events)


class DeltaTemplate:
    """The frame of one delta event type for one output item, the string left open."""

    __slots__ = ("fields", "kind", "text_key", "wire")

    def __init__(self, kind: str, text_key: str, **fields: Any) -> None:
        self.kind = kind
        self.text_key = text_key
        self.fields = fields
        # {"type":…,"sequence_number":%d,<fields>,"<text_key>":%s<suffix>}
        middle = "".join(f",{dumps_str(key)}:{dumps_str(value)}" for key, value in fields.items())
        suffix = ',"logprobs":[]' if kind == "response.output_text.delta" else ""
        wire = (
            f"event: {kind}\ndata: "
            + '{"type":'
            + dumps_str(kind)
            + ',"sequence_number":%d'
            + middle.replace("%", "%%")
            + f',"{text_key}":%s'
            + suffix
            + "}\n\n"
        )
        self.wire = wire

    def __call__(self, seq: int, value: str) -> Delta:
        return Delta(self, seq, value)


class Delta(Event):
    """A delta event (output text, summary text, function arguments) from its template."""

    __slots__ = ("_seq", "_template", "_value")

    def __init__(self, template: DeltaTemplate, seq: int, value: str) -> None:
        self.type = template.kind
        self._template = template
        self._seq = seq
        self._value = value

    @property
    def data(self) -> dict[str, Any]:
        template = self._template
        data = {"type": self.type, "sequence_number": self._seq, **template.fields}
        data[template.text_key] = self._value
        if self.type == "response.output_text.delta":
            data["logprobs"] = []
        return data

    def encode(self) -> bytes:
        frame = self._template.wire % (self._seq, encode_basestring(self._value))
        return frame.encode("utf-8", "replace")
