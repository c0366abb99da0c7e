"""Label and field selectors: parsing the query-string syntax and matching objects.

The grammar is the API server's (``k8s.io/apimachinery/pkg/labels``): comma-separated
requirements, each ``key``, ``!key``, ``key=v``, ``key==v``, ``key!=v``, ``key in (a,b)`` or
``key notin (a,b)``. Note the set-based semantics a client may rely on: ``key!=v`` and
``key notin (...)`` also match objects that lack the label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fake_k3s.errors import bad_request

_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EXISTS = re.compile(rf"^(?P<key>{_KEY})$")
_NOT_EXISTS = re.compile(rf"^!\s*(?P<key>{_KEY})$")
_EQUALITY = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})$")
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_FIELD = re.compile(r"^(?P<path>[A-Za-z0-9_.\-/]+)\s*(?P<op>==|=|!=)\s*(?P<value>.*)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str
    """One of ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!exists``."""
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # "!=" and "notin"

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!exists":
            return f"!{self.key}"
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{self.values[0]}"
        return f"{self.key} {self.op} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse ``?labelSelector=``; a syntax error is a 400, as from the API server."""
        if not text or not text.strip():
            return cls()
        return cls(tuple(_parse_requirement(part) for part in _split_top_level(text)))

    @classmethod
    def from_object(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """A ``LabelSelector`` object (``matchLabels`` / ``matchExpressions``)."""
        if not selector:
            return cls()
        requirements = [
            Requirement(str(key), "=", (str(value),))
            for key, value in sorted((selector.get("matchLabels") or {}).items())
        ]
        operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
        for expression in selector.get("matchExpressions") or []:
            op = operators.get(expression.get("operator", ""))
            if op is None:
                raise bad_request(f"invalid label selector operator {expression.get('operator')!r}")
            values = tuple(str(v) for v in expression.get("values") or ())
            requirements.append(Requirement(str(expression.get("key", "")), op, values))
        return cls(tuple(requirements))


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside parentheses: ``a in (x,y),b`` is two requirements."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts]


def _parse_requirement(part: str) -> Requirement:
    if match := _SET.match(part):
        values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
        return Requirement(match["key"], match["op"], values)
    if match := _EQUALITY.match(part):
        op = "=" if match["op"] in ("=", "==") else "!="
        return Requirement(match["key"], op, (match["value"],))
    if match := _NOT_EXISTS.match(part):
        return Requirement(match["key"], "!exists")
    if match := _EXISTS.match(part):
        return Requirement(match["key"], "exists")
    raise bad_request(f"unable to parse requirement: {part!r}")


@dataclass(frozen=True)
class FieldSelector:
    """``?fieldSelector=``: ``path=value`` / ``path!=value`` on dotted object paths.

    A real API server allows only a few fields per kind (``metadata.name``,
    ``involvedObject.name``, ``status.phase``, ...); this one resolves any dotted path, which
    is a superset of what a correct client sends.
    """

    terms: tuple[tuple[str, bool, str], ...] = ()
    """(dotted path, wants equal, value)."""

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field(obj, path) == value) == equal for path, equal, value in self.terms)

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        if not text or not text.strip():
            return cls()
        terms = []
        for part in text.split(","):
            match = _FIELD.match(part.strip())
            if match is None:
                raise bad_request(f"invalid field selector: {part!r}")
            terms.append((match["path"], match["op"] != "!=", match["value"].strip()))
        return cls(tuple(terms))


def _field(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(step)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
