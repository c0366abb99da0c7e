"""robots.txt as RFC 9309 reads it: parsing and matching, pure.

Written here rather than taken from ``urllib.robotparser``, which matches rules in file
order instead of by the longest match, knows neither ``*`` nor ``$`` in paths, and matches
user agents by substring.

- Groups start with one or more ``user-agent`` lines; the rules after them belong to every
  agent named. Our product token is matched case-insensitively; the groups naming it are
  combined, else those of ``*``, else nothing applies (all allowed).
- The longest matching rule wins (its length in octets); ``allow`` wins a tie; a path
  matched by no rule is allowed; ``/robots.txt`` is always allowed.
- Paths are compared percent-encoded (RFC 3986), ``*`` matching any run of characters and a
  final ``$`` the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

MAX_ROBOTS_BYTES = 500 * 1024
"""RFC 9309 2.5: a parsing limit of at least 500 KiB; what follows is ignored."""

_PRODUCT_TOKEN = re.compile(r"[a-zA-Z_-]+")
_SAFE = "/?=&;:@!$'()*+,-._~%"


def normalise(path: str) -> str:
    """``path`` percent-encoded the one way RFC 9309 compares paths: reserved and non-ASCII
    octets encoded, unreserved ones decoded."""
    return quote(unquote(path), safe=_SAFE)


@dataclass(frozen=True)
class Rule:
    allow: bool
    pattern: str

    def matches(self, path: str) -> bool:
        anchored = self.pattern.endswith("$")
        body = self.pattern[:-1] if anchored else self.pattern
        return glob_match(body if anchored else body + "*", path)


def glob_match(pattern: str, text: str) -> bool:
    """Whether ``pattern`` (``*`` for any run of characters) matches all of ``text``; in
    O(len(pattern) * len(text)) at worst, so a hostile robots.txt full of stars cannot make
    the match backtrack exponentially as a regular expression would."""
    p = t = 0
    star = -1
    mark = 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif p < len(pattern) and pattern[p] == text[t]:
            p += 1
            t += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


@dataclass
class _Group:
    agents: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)


@dataclass(frozen=True)
class Robots:
    """One site's robots.txt, parsed; :meth:`allows` answers for one agent and path."""

    groups: tuple[tuple[tuple[str, ...], tuple[Rule, ...]], ...] = ()

    @classmethod
    def allow_all(cls) -> Robots:
        return cls()

    @classmethod
    def parse(cls, text: str) -> Robots:
        groups: list[_Group] = []
        current: _Group | None = None
        in_rules = False
        for raw in text[:MAX_ROBOTS_BYTES].splitlines():
            line = raw.split("#", 1)[0].strip()
            key, sep, value = line.partition(":")
            if not sep:
                continue
            key = key.strip().lower()
            value = value.strip()
            if key == "user-agent":
                if current is None or in_rules:
                    current = _Group()
                    groups.append(current)
                    in_rules = False
                token = _PRODUCT_TOKEN.match(value)
                agent = "*" if value.startswith("*") else token.group(0) if token else ""
                if agent:
                    current.agents.append(agent.lower())
            elif key in ("allow", "disallow"):
                if current is None:
                    continue
                in_rules = True
                if value:
                    current.rules.append(Rule(key == "allow", normalise(value)))
        return cls(tuple((tuple(g.agents), tuple(g.rules)) for g in groups))

    def allows(self, agent: str, path: str) -> bool:
        """Whether ``agent`` (a product token) may fetch ``path`` (path and query)."""
        target = normalise(path or "/")
        if target == "/robots.txt":
            return True
        rules = self._rules_for(agent.lower())
        best: Rule | None = None
        for rule in rules:
            if not rule.matches(target):
                continue
            if (
                best is None
                or len(rule.pattern) > len(best.pattern)
                or (len(rule.pattern) == len(best.pattern) and rule.allow and not best.allow)
            ):
                best = rule
        return best is None or best.allow

    def _rules_for(self, agent: str) -> list[Rule]:
        if any(agent in agents for agents, _rules in self.groups):
            return [rule for agents, rules in self.groups if agent in agents for rule in rules]
        return [rule for agents, rules in self.groups if "*" in agents for rule in rules]
