"""What the observability tests share: the shipped files, promtool, the dashboard's queries as
Grafana would send them, and the metric names a PromQL expression or the daemon exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from autosred.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "packaging" / "prometheus" / "autosred-rules.yml"
SCRAPE = REPO / "packaging" / "prometheus" / "scrape.yml"
DASHBOARD = REPO / "packaging" / "grafana" / "autosred.json"
RULE_TESTS = Path(__file__).resolve().parent / "autosred-rules.test.yml"

PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus makes itself for each target (the rules' daemon-down alerts read it)."""

GRAFANA_VARIABLES = {
    # A variable's value as Grafana substitutes it: "All" of a multi-value variable is its
    # allValue, the interval variables durations.
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$instance": ".*",
    "$model": ".*",
}


def tool(name: str) -> str:
    """A Prometheus tool's path; missing, the test fails saying how to get it (never skips)."""
    path = shutil.which(name)
    assert path is not None, (
        f"{name} not found: Debian's prometheus package provides it "
        "(bash tests/setup/install-test-deps.sh installs it)"
    )
    return path


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def load_rules() -> list[dict[str, Any]]:
    """Every rule of the shipped rule file, across its groups."""
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def load_dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


@dataclass(frozen=True)
class Query:
    where: str
    """The panel's title, or ``variable NAME``."""
    expr: str
    """As written in the dashboard, Grafana's variables unexpanded."""

    @property
    def promql(self) -> str:
        """The expression as Grafana sends it to Prometheus."""
        return expand(self.expr)


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every PromQL expression of the dashboard: the panels' targets and, for the query
    variables, the series selector of their ``label_values(SELECTOR, LABEL)``."""
    found = [
        Query(panel["title"], target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = _LABEL_VALUES.match(variable["query"]["query"])
        assert match, f"variable {variable['name']}: not label_values(SELECTOR, LABEL)"
        found.append(Query(f"variable {variable['name']}", match["selector"]))
    return found


def expand(expr: str) -> str:
    # Longest names first: $__range must not be read as a prefix of something longer.
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    assert "$" not in expr, f"an unknown Grafana variable in {expr!r}"
    return expr


# What is not a metric name in PromQL text, removed before the names are read: string
# literals (label values, regexes), label matchers, range and subquery brackets, grouping
# label lists, offsets.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left"}
    | {"group_right", "offset", "atan2", "inf", "nan", "Inf", "NaN"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (``name{...}`` or a bare ``name``): the
    identifiers left once strings, matchers, brackets, grouping lists and offsets are gone,
    less the functions and aggregations (followed by ``(``) and the operator keywords."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    return {name for name, call in _IDENTIFIER.findall(text) if not call and name not in _KEYWORDS}


def sample_names_in(text: str) -> set[str]:
    """The sample names of Prometheus text (a scrape of the daemon)."""
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def registered_sample_names() -> set[str]:
    """The sample names of every series the daemon's code registers (a fresh Metrics: its
    labelled series have no samples yet, so the names come from each family's type)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names
