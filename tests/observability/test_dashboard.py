"""The Grafana dashboard, without Grafana: its shape (the datasource and the model as
variables, every panel on that datasource, a grid without overlaps), every query parsed by
promtool, and every metric it reads one the daemon registers. What needs the live series (the
model servers' vllm:* names, the queries run) is in test_prometheus.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .support import (
    PROMETHEUS_OWN,
    load_dashboard,
    load_rules,
    metric_names,
    panels,
    promtool,
    queries,
    registered_sample_names,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def test_datasource_and_model_are_variables() -> None:
    variables = {variable["name"]: variable for variable in load_dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    model = variables["model"]
    assert model["type"] == "query" and model["datasource"] == DATASOURCE
    assert (
        model["query"]["query"]
        == 'label_values(autosred_engine_state{instance=~"$instance"}, model)'
    )
    assert model["includeAll"] and model["multi"] and model["allValue"] == ".*"


def test_every_panel_reads_the_datasource_variable_on_a_grid_without_overlaps() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "autosred" and not dashboard.get("__inputs"), (
        "importable as is: the datasource is chosen by the variable, not at import"
    )
    every = panels(dashboard)
    assert len({panel["id"] for panel in every}) == len(every), "panel ids are unique"
    cells: dict[tuple[int, int], str] = {}
    for panel in every:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["description"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"] and target["refId"], panel["title"]


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """Each query, its variables expanded as Grafana does, as a recording rule: promtool
    check rules parses each expression with Prometheus's own parser."""
    found = queries(load_dashboard())
    rules = tmp_path / "dashboard.rules.yml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "dashboard",
                        "rules": [
                            {"record": f"dashboard:query_{i}", "expr": query.promql}
                            for i, query in enumerate(found)
                        ],
                    }
                ]
            }
        )
    )
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(found)} rules found" in result.stdout


def test_promtool_refuses_a_broken_query(tmp_path: Path) -> None:
    """The check above can fail: one unbalanced parenthesis is refused, naming the rule."""
    rules = tmp_path / "broken.rules.yml"
    expr = "sum by (api) (rate(autosred_requests_total[1m])"
    rules.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "x:y", "expr": expr}]}]})
    )
    result = promtool("check", "rules", str(rules))
    assert result.returncode != 0
    assert "x:y" in result.stdout + result.stderr


def test_the_daemons_own_metrics_the_dashboard_and_rules_read_are_registered() -> None:
    """Every autosred_*/gen_ai_* name a panel, a variable or an alert reads is a series the
    daemon's code registers (the vllm:* names come from the model server: test_prometheus)."""
    registered = registered_sample_names()
    read = {name for query in queries(load_dashboard()) for name in metric_names(query.promql)}
    read |= {name for rule in load_rules() for name in metric_names(rule["expr"])}
    ours = {name for name in read if not name.startswith("vllm:")} - PROMETHEUS_OWN
    assert ours <= registered, f"not exported by the daemon: {sorted(ours - registered)}"
    # What issue 13 asks the dashboard to show, by the series that show it.
    shown = {name for query in queries(load_dashboard()) for name in metric_names(query.promql)}
    assert shown >= {
        "autosred_engine_state",  # models' states over time
        "autosred_wake_duration_seconds_bucket",  # wake durations
        "autosred_requests_total",  # request rate and errors by surface
        "autosred_time_to_first_byte_seconds_bucket",  # TTFB
        "gen_ai_server_time_to_first_token_seconds_bucket",  # TTFT
        "vllm:generation_tokens_total",  # tokens/s
        "vllm:kv_cache_usage_perc",  # KV cache
        "autosred_gpu_memory_used_bytes",  # GPU
        "autosred_gpu_utilization_ratio",
    }


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('up{job="autosred"} == 0', {"up"}),
        ("absent(up{job='x'})", {"up"}),
        (
            'sum by (api, le) (rate(autosred_time_to_first_byte_seconds_bucket{model=~"a|b"}[5m]))',
            {"autosred_time_to_first_byte_seconds_bucket"},
        ),
        ("histogram_quantile(0.95, sum(rate(x_bucket[1m])) by (le))", {"x_bucket"}),
        ("a / on (job) group_left (gpu) b > bool 1e3", {"a", "b"}),
        ("a unless a offset 15m", {"a"}),
        (
            "max by (model) (vllm:kv_cache_usage_perc or vllm:gpu_cache_usage_perc)",
            {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"},
        ),
        ('label_replace(c, "dst", "$1", "src", "(.*)") and d', {"c", "d"}),
        ("rate(e[5m:30s]) * 2 - Inf", {"e"}),
        ('{__name__=~"f.*"}', set()),
    ],
)
def test_metric_names_reads_the_selected_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
