"""A model server's Prometheus text, parsed into its vLLM families.

Lines are chosen before anything is parsed (``select``: a prefix test per line, in C):
the server's other series (its Python runtime, its HTTP middleware) are most of the text and
the daemon reads none of them, and a watch frame needs a dozen of vLLM's few hundred lines
(prometheus_client's parser costs tens of microseconds a line). The parser is
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


def select(text: str, names: tuple[str, ...]) -> str:
    """The lines of ``text`` about series whose names start with one of ``names``: their
    samples and their ``# HELP``/``# TYPE`` lines."""
    starts = names + tuple(f"# HELP {n}" for n in names) + tuple(f"# TYPE {n}" for n in names)
    return "".join(f"{line}\n" for line in text.splitlines() if line.startswith(starts))


def parse(text: str, *, prefix: str = PREFIX) -> list[Metric]:
    """The families of ``text`` whose names start with ``prefix``, in order."""
    try:
        return [
            family
            for family in text_string_to_metric_families(select(text, (prefix,)))
            if family.name.startswith(prefix)
        ]
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        # prometheus_client raises ValueError for most bad lines, and the others for a few
        # (fuzzed: tests/servermetrics/test_parse.py).
        raise ExpositionError(f"not Prometheus text: {exc}") from None
