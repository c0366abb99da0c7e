"""Priority rules: which requests vLLM should serve first.

vLLM's ``priority`` request field orders its queue when the server runs with
``--scheduling-policy priority``: a LOWER value is served first (default 0; ties are first come,
first served) and a waiting request may preempt running ones of a higher value. A non-zero
value is an error for a server on the default ``fcfs`` policy, which is why rules belong to
the recipe that knows how its server was started.

Typical use: Claude Code's background calls (haiku-class model names, the session-title request
that carries the ``structured-outputs-…`` beta) get a higher value than the main turn, so they
never delay it. Rules are tried in order; the first whose conditions all hold gives the value.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

_INT64 = 2**63


class HeaderMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    """Header name (case-insensitive)."""
    value: str = "*"
    """Shell-style glob over the whole header value; "*" = the header is present."""


class PriorityRule(BaseModel):
    """One rule: conditions (all must hold; none = always) and the priority they give."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    """Glob over the model name the client sent (before alias resolution), e.g. "*haiku*"."""
    header: HeaderMatch | None = None
    """A request header and a glob over its value."""
    client: str | None = None
    """Glob over the client token's name (api.clients; "-" when no tokens are configured)."""
    priority: int = Field(ge=-_INT64, lt=_INT64)
    """vLLM ``priority``: lower is served earlier; 0 is vLLM's default."""

    def matches(self, *, model: str, headers: Mapping[str, str], client: str) -> bool:
        if self.model is not None and not fnmatch.fnmatchcase(model, self.model):
            return False
        if self.client is not None and not fnmatch.fnmatchcase(client, self.client):
            return False
        if self.header is not None:
            value = headers.get(self.header.name)
            if value is None or not fnmatch.fnmatchcase(value, self.header.value):
                return False
        return True


def request_priority(
    rules: Sequence[PriorityRule], *, model: str, headers: Mapping[str, str], client: str
) -> int | None:
    """The priority of the first matching rule, or None (send no ``priority`` at all).

    ``headers`` must look names up case-insensitively, as aiohttp's ``request.headers`` does.
    """
    for rule in rules:
        if rule.matches(model=model, headers=headers, client=client):
            return rule.priority
    return None
