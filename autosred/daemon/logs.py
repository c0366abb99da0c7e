"""Structured logs: one stable event name per line, fields as key=value or JSON.

Code logs ``log.info("scaler.wake_started", extra={"fields": {"model": "qwen"}})``; this
module renders it as a JSON object when stderr is not a terminal (journald, files, tests) and
as readable text on a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        pairs = " ".join(f"{key}={_quote(value)}" for key, value in _fields(record).items())
        text = f"{stamp} {record.levelname.lower():7} {record.getMessage()} {pairs}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _quote(value: object) -> str:
    text = str(value)
    return (
        json.dumps(text, ensure_ascii=False) if (" " in text or not text or "=" in text) else text
    )


def configure(level: str, fmt: str, *, stream: TextIO | None = None) -> logging.Logger:
    """Set up the ``autosred`` logger tree; returns it. Idempotent (a reload calls it again)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    logger = logging.getLogger("autosred")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[level])
    logger.propagate = False
    # aiohttp logs its own access and server errors, the MCP SDK its sessions' failures;
    # keep their warnings in the same stream.
    for library in ("aiohttp", "mcp"):
        library_logger = logging.getLogger(library)
        for old in list(library_logger.handlers):
            library_logger.removeHandler(old)
        library_logger.addHandler(handler)
        library_logger.setLevel(logging.WARNING)
    return logger
