"""autosrectl drift and recipe helm-values against the fake daemon (admin API over a socket)."""

from __future__ import annotations

import json

from autosred.admin.schema import DriftField, DriftReport
from autosred.ctl.kube import drift_view

from .run import Ctl


async def test_drift_of_one_model(ctl: Ctl) -> None:
    result = await ctl("drift", "qwen")
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("qwen: ")
    assert "pod qwen-5d9c7-x2x4q" in lines[0]
    assert lines[1:] == ["  container.args", '    recipe: ["--x"]', '    live:   ["--y"]']


async def test_drift_of_all_models_as_json_and_exit_code(ctl: Ctl) -> None:
    result = await ctl("drift", "--json")
    assert result.rc == 0, result.err
    body = json.loads(result.out)
    reports = [DriftReport.from_json(item) for item in body["models"]]
    assert reports and all(report.drifted for report in reports)
    assert (await ctl("drift", "--exit-code")).rc == 1


async def test_drift_of_an_unknown_model(ctl: Ctl) -> None:
    result = await ctl("drift", "nope")
    assert result.rc == 1
    assert "no model named 'nope'" in result.err


async def test_helm_values(ctl: Ctl) -> None:
    result = await ctl("recipe", "helm-values", "qwen")
    assert result.rc == 0, result.err
    assert result.out.startswith("# helm/autosre values for recipe qwen")
    assert "models:\n- recipe: qwen\n" in result.out
    as_json = await ctl("recipe", "helm-values", "qwen", "--json")
    assert json.loads(as_json.out) == {"models": [{"recipe": "qwen"}]}


def test_drift_view_without_drift() -> None:
    report = DriftReport(
        model="m",
        engine="kubernetes",
        checked=True,
        message="matches the recipe",
        recipe_hash="c" * 64,
        live_hash="c" * 64,
        pod="m-1",
    )
    assert drift_view(report) == "m: matches the recipe (pod m-1, recipe cccccccccccc)"
    moved = DriftReport(
        model="m",
        engine="kubernetes",
        checked=True,
        recipe_hash="c" * 64,
        live_hash="d" * 64,
        fields=[DriftField("image.digest", "sha256:1", "sha256:2")],
    )
    assert drift_view(moved).splitlines()[0] == "m: drift (recipe cccccccccccc, live dddddddddddd)"
