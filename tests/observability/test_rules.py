"""The shipped alert rules and scrape config, checked by Debian's promtool: they load, each
alert fires on the series that should fire it and stays quiet on the others (promtool's unit
tests in autosred-rules.test.yml), and every alert is tested and labelled alike."""

from __future__ import annotations

from pathlib import Path

import yaml

from .support import RULE_TESTS, RULES, SCRAPE, load_rules, promtool

SEVERITIES = {"critical", "warning", "info"}


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(load_rules())} rules found" in result.stdout


def test_the_scrape_snippet_is_a_valid_prometheus_config_loading_the_rules() -> None:
    """scrape.yml as shipped, its rule_files resolved beside it (copied side by side)."""
    result = promtool("check", "config", str(SCRAPE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    jobs = yaml.safe_load(SCRAPE.read_text())["scrape_configs"]
    assert [job["job_name"] for job in jobs] == ["autosred"], "the job the rules match"
    assert jobs[0]["static_configs"] == [{"targets": ["127.0.0.1:9464"]}], (
        "metrics.listen's default (autosred/config.py)"
    )


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_can_fail(tmp_path: Path) -> None:
    """An alert expected quiet where it fires: promtool says so (the tests above are real)."""
    document = yaml.safe_load(RULE_TESTS.read_text())
    document["rule_files"] = [str(RULES)]
    stuck = next(test for test in document["tests"] if test["name"] == "a model stuck starting")
    stuck["alert_rule_test"][0]["eval_time"] = "17m"  # big has been starting for 17 minutes
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(document))
    result = promtool("test", "rules", str(broken))
    assert result.returncode != 0
    assert "AutosredModelStuckStarting" in result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_labelled() -> None:
    alerts = {rule["alert"]: rule for rule in load_rules() if "alert" in rule}
    assert set(alerts) >= {
        "AutosredDown",
        "AutosredWakeFailed",
        "AutosredModelStuckStarting",
        "AutosredHighErrorRate",
        "AutosredModelDrift",
        "AutosredGpuMemoryNearlyFull",
    }, "issue 13's alerts: daemon down, wake failures, stuck starting, 5xx, drift, GPU memory"
    fired: set[str] = set()
    quiet: set[str] = set()
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test["alert_rule_test"]:
            (fired if case["exp_alerts"] else quiet).add(case["alertname"])
    assert fired == set(alerts), "each alert has a promtool case where it fires"
    assert quiet == set(alerts), "and one where it stays quiet"
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert {"summary", "description"} <= set(rule["annotations"]), name
