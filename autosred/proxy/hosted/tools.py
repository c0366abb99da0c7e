"""A hosted tool as a request asks for it, and the function the model is offered for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from autosred.proxy.hosted.web import HostedWeb

HostedKind = Literal["web_search", "web_fetch"]

MAX_QUERY_CHARS = 400
"""A longer search query is refused with ``query_too_long`` (no engine takes essays)."""
MAX_URL_CHARS = 2000
"""A longer URL is refused with ``url_too_long``."""
DEFAULT_FETCH_TOKENS = 25_000
"""The page text a fetch puts in the model's context when the client set no
``max_content_tokens`` (about four characters a token)."""

_DESCRIPTIONS: dict[HostedKind, str] = {
    "web_search": (
        "Search the web. Returns the title, URL and a snippet of each result. Use it for "
        "anything recent or that you do not know."
    ),
    "web_fetch": (
        "Fetch a web page by its URL and return its text (Markdown for HTML pages). Use it "
        "to read a page found by a search or named by the user."
    ),
}
_PARAMETERS: dict[HostedKind, dict[str, Any]] = {
    "web_search": {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What to search for."}},
        "required": ["query"],
    },
    "web_fetch": {
        "type": "object",
        "properties": {"url": {"type": "string", "description": "The http(s) URL to fetch."}},
        "required": ["url"],
    },
}


@dataclass(frozen=True, slots=True)
class HostedTool:
    """One hosted tool of a request: its kind, the name the client and the model call it by,
    and the client's limits (``None``: none given)."""

    kind: HostedKind
    name: str
    max_uses: int | None = None
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    country: str | None = None
    """``user_location.country`` (two letters): where results should be relevant to."""
    max_content_tokens: int | None = None
    live: bool = True
    """Whether a search may reach the web; False (Responses ``external_web_access: false``):
    only earlier results of the same client are searched (memory.py)."""

    def function(self) -> dict[str, Any]:
        """The chat-completions function the model calls to use the tool."""
        description = _DESCRIPTIONS[self.kind]
        if self.allowed_domains:
            description += " Only these domains are available: " + ", ".join(self.allowed_domains)
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": description,
                "parameters": _PARAMETERS[self.kind],
            },
        }

    @property
    def content_chars(self) -> int:
        """How much page text a fetch may put in the model's context."""
        return 4 * (self.max_content_tokens or DEFAULT_FETCH_TOKENS)


@dataclass(frozen=True, slots=True)
class HostedTools:
    """What the daemon runs of the hosted tools (settings ``hosted_tools``): through which
    web, which kinds, and each kind's cap on calls per request."""

    web: HostedWeb
    kinds: frozenset[HostedKind] = frozenset({"web_search", "web_fetch"})
    caps: Mapping[HostedKind, int | None] = field(default_factory=dict)


def domain_matches(host: str, domains: tuple[str, ...]) -> bool:
    """Whether ``host`` is one of ``domains`` or under one of them (``docs.x.org`` is under
    ``x.org``); a leading ``www.`` and letter case do not matter."""
    host = host.lower().rstrip(".").removeprefix("www.")
    for entry in domains:
        # "example.com/docs" names a part of a site; the host is what can be checked here.
        domain = entry.lower().strip().split("/", 1)[0].rstrip(".").removeprefix("www.")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def host_allowed(host: str, tool: HostedTool) -> bool:
    """Whether a URL on ``host`` may be shown (search) or read (fetch) under ``tool``'s
    domain lists."""
    if tool.allowed_domains and not domain_matches(host, tool.allowed_domains):
        return False
    return not domain_matches(host, tool.blocked_domains)
