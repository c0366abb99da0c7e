"""The event loop's own error reports, as throttled structured lines.

When the process runs out of descriptors, asyncio reports every failed ``accept`` (and
retries each listener every second) through the loop's exception handler, whose default
writes a traceback each time. Here that is one warning per interval with the limit, and
anything else the loop reports is one error line per interval with its traceback.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
from typing import Any

from autosred.daemon.throttle import LogThrottle

_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def install(loop: asyncio.AbstractEventLoop, throttle: LogThrottle) -> None:
    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message", ""))
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES:
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            throttle.log(
                logging.WARNING,
                "daemon.descriptors_exhausted",
                error=os.strerror(exc.errno or 0),
                open_files_limit=soft,
                where=message,
            )
            return
        throttle.log(
            logging.ERROR,
            "daemon.loop_error",
            message=message,
            exc_info=exc if isinstance(exc, BaseException) else None,
        )

    loop.set_exception_handler(handle)
