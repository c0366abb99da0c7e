"""Helpers for the packaging tests: paths, a systemd unit parser, a deb822 parser, tools."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "autosred.service"
SYSUSERS = REPO / "systemd" / "autosred.sysusers"
TMPFILES = REPO / "systemd" / "autosred.tmpfiles"
DEBIAN = REPO / "debian"
MAN = REPO / "packaging" / "man"
INSTALL_TEST_DEPS = REPO / "tests" / "setup" / "install-test-deps.sh"


def require_tool(name: str) -> str:
    """The tool's path. Missing: skipped locally, a failure in CI (CI=true), where
    tests/setup/install-test-deps.sh must have installed it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed: run tests/setup/install-test-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(
    argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@dataclass
class Unit:
    """A systemd unit file: section -> key -> every value assigned, in order."""

    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def values(self, section: str, key: str) -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def value(self, section: str, key: str) -> str | None:
        """The last assignment (what systemd uses for single-valued settings)."""
        found = self.values(section, key)
        return found[-1] if found else None


def parse_unit(text: str) -> Unit:
    """systemd.syntax(7), the subset units use: [Section], Key=Value, # and ; comments,
    backslash continuation lines."""
    unit = Unit()
    section: str | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            unit.sections.setdefault(section, {})
            continue
        if section is None or "=" not in line:
            raise ValueError(f"line {number}: not a [Section] or Key=Value: {raw!r}")
        key, _, value = line.partition("=")
        unit.sections[section].setdefault(key.strip(), []).append(value.strip())
    return unit


def parse_deb822(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs (debian/control): 'Field: value', continuation lines start with
    white space, paragraphs separated by blank lines, '#' lines are comments. Field names
    are case-insensitive in Debian; kept as written here."""
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t":
            if last is None:
                raise ValueError(f"line {number}: continuation line outside a field")
            current[last] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not re.fullmatch(r"[!-9;-~][!-9;-~]*", name):
            raise ValueError(f"line {number}: not 'Field: value': {line!r}")
        if name in current:
            raise ValueError(f"line {number}: field {name} repeated in one paragraph")
        current[name] = value.strip()
        last = name
    if current:
        paragraphs.append(current)
    return paragraphs


@dataclass(frozen=True)
class Relation:
    """One alternative of a Debian package relation: ``name (op version)``."""

    name: str
    op: str | None
    version: str | None


def parse_relations(field_value: str) -> list[list[Relation]]:
    """``a (>= 1), b | c`` -> [[a>=1], [b, c]]; a trailing comma is allowed."""
    groups: list[list[Relation]] = []
    for group in field_value.replace("\n", " ").split(","):
        if not group.strip():
            continue
        alternatives = []
        for alternative in group.split("|"):
            match = re.fullmatch(
                r"\s*([a-z0-9][a-z0-9+.\-]*(?::[a-z0-9]+)?|\$\{[A-Za-z0-9:.\-]+\})"
                r"\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^\s)]+)\s*\))?\s*",
                alternative,
            )
            if match is None:
                raise ValueError(f"not a package relation: {alternative.strip()!r}")
            alternatives.append(Relation(match[1], match[2], match[3]))
        groups.append(alternatives)
    return groups


def package_version() -> str:
    """autosred.__version__, read from the source (what setuptools reads too)."""
    text = (REPO / "autosred" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, "autosred/__init__.py has no __version__"
    return match[1]
