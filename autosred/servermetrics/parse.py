"""A model server's Prometheus text, parsed into its vLLM families.

Lines of other series (the server's Python runtime, its HTTP middleware) are dropped before
parsing: they are most of the text and the daemon reads none of them. The parser is
prometheus_client's; whatever it makes of a bad body, the caller gets ``ExpositionError``.
"""

from __future__ import annotations

from prometheus_client import Metric
from prometheus_client.parser import text_string_to_metric_families

PREFIX = "vllm:"
"""The model server's own series (vLLM names them all so)."""
MAX_BYTES = 8 * 1024 * 1024
"""A /metrics body larger than this is refused (a vLLM server's is a few hundred KiB)."""


class ExpositionError(ValueError):
    """A body that is not Prometheus text."""


def parse(text: str, *, prefix: str = PREFIX) -> list[Metric]:
    """The families of ``text`` whose names start with ``prefix``, in order."""
    help_line, type_line = f"# HELP {prefix}", f"# TYPE {prefix}"
    kept = [
        line
        for line in text.splitlines()
        if line.startswith(prefix) or line.startswith(help_line) or line.startswith(type_line)
    ]
    try:
        return [
            family
            for family in text_string_to_metric_families("\n".join(kept) + "\n")
            if family.name.startswith(prefix)
        ]
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        # prometheus_client raises ValueError for most bad lines, and the others for a few
        # (found by fuzzing: tests/servermetrics/test_parse.py).
        raise ExpositionError(f"not Prometheus text: {exc}") from None
