"""Recipe priority rules (vLLM ``priority``: lower is served first), and the annotated example."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from multidict import CIMultiDict
from pydantic import ValidationError

from autosred.recipes import PriorityRule, Recipe, request_priority

ANNOTATED = Path(__file__).resolve().parents[2] / "etc" / "autosred" / "autosred.yaml"

RULES = [
    PriorityRule.model_validate({"model": "*haiku*", "priority": 10}),
    PriorityRule.model_validate(
        {"header": {"name": "anthropic-beta", "value": "*structured-outputs-*"}, "priority": 5}
    ),
    PriorityRule.model_validate({"client": "batch-*", "priority": 20}),
    PriorityRule.model_validate(
        {"model": "claude-*", "header": {"name": "x-app"}, "client": "laptop", "priority": -1}
    ),
]


def priority(model: str, client: str = "-", **headers: str) -> int | None:
    return request_priority(RULES, model=model, headers=CIMultiDict(headers), client=client)


def test_no_rule_matches_no_priority() -> None:
    assert priority("claude-sonnet-4-5") is None
    assert request_priority([], model="x", headers=CIMultiDict(), client="-") is None


def test_first_match_wins() -> None:
    assert priority("claude-haiku-4-5", client="batch-1") == 10
    assert priority("claude-sonnet-4-5", client="batch-1") == 20


def test_header_names_are_case_insensitive_and_values_globbed() -> None:
    beta = "claude-code-20250219,structured-outputs-2025-12-15"
    assert priority("m", **{"Anthropic-Beta": beta}) == 5
    assert priority("m", **{"anthropic-beta": "claude-code-20250219"}) is None


def test_all_conditions_of_a_rule_must_hold() -> None:
    assert priority("claude-opus", client="laptop", **{"X-App": "cli"}) == -1
    assert priority("claude-opus", client="laptop") is None  # header missing
    assert priority("gpt-5", client="laptop", **{"X-App": "cli"}) is None


def test_globs_are_case_sensitive() -> None:
    assert priority("claude-HAIKU") is None


@pytest.mark.parametrize(
    "rule",
    [
        {"priority": 2**63},
        {"model": "x"},
        {"header": {"value": "x"}, "priority": 1},
        {"colour": "red", "priority": 1},
    ],
)
def test_bad_rules_are_rejected(rule: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PriorityRule.model_validate(rule)


def test_the_annotated_example_recipe_is_valid() -> None:
    """The commented recipe under ``recipes: []`` in autosred.yaml, uncommented, validates."""
    lines = ANNOTATED.read_text().splitlines()
    start = lines.index("recipes: []") + 1
    example = []
    for line in lines[start:]:
        if not line.startswith("#  "):
            break
        example.append(line[1:])
    [data] = yaml.safe_load("\n".join(example))
    recipe = Recipe.model_validate(data)
    assert recipe.reasoning.template_switch == "enable_thinking"
    assert (
        request_priority(
            recipe.priority, model="claude-haiku-4-5", headers=CIMultiDict(), client="-"
        )
        == 10
    )
