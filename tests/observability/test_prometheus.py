"""A real Prometheus (Debian's) scrapes the real daemon while autosred-sim serves a stream
through it: the daemon's series and the model server's vllm:* series arrive with the right
`model` label, the shipped alert rules load and evaluate on them (quiet for the daemon,
AutosredDown for a second target of the job where nothing answers), and every dashboard
query runs on them and reads only series the daemon exports.

One daemon and one Prometheus for the module; Prometheus scrapes and evaluates every second,
and the tests poll its HTTP API with a deadline for what they wait on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
import pytest_asyncio
import yaml

from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

from .support import (
    PROMETHEUS_OWN,
    RULES,
    SCRAPE,
    Query,
    load_dashboard,
    load_rules,
    metric_names,
    queries,
    registered_sample_names,
    sample_names_in,
    tool,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEADLINE = 60.0
POLL = 0.2
FAKE_NVML = Path(__file__).resolve().parents[1] / "support" / "fake_nvml"
GPU = {"name": "NVIDIA H200", "total_gib": 141, "free_gib": 100, "util": 37, "temp": 51}
GPU |= {"power_w": 300}

Vector = list[dict[str, Any]]


@dataclass
class Prometheus:
    url: str
    log: Path

    async def api(self, path: str, **params: str) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}{path}", params=params) as response:
                body = await response.json()
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    async def query(self, promql: str) -> Vector:
        data = await self.api("/api/v1/query", query=promql)
        assert data["resultType"] == "vector", (promql, data)
        result: Vector = data["result"]
        return result

    async def until(self, promql: str, done: Callable[[Vector], bool]) -> Vector:
        """The query's result once ``done`` holds of it (polled with a deadline)."""
        result: Vector = []
        try:
            async with asyncio.timeout(DEADLINE):
                while True:
                    result = await self.query(promql)
                    if done(result):
                        return result
                    await asyncio.sleep(POLL)
        except TimeoutError:
            raise AssertionError(
                f"{promql}: still {result} after {DEADLINE} s\n{self.log.read_text()[-3000:]}"
            ) from None


@dataclass(frozen=True)
class Stack:
    daemon: Daemon
    prometheus: Prometheus
    down: str
    """A second target of the job where nothing listens (a daemon that is down)."""


def by_model(result: Vector) -> dict[str, float]:
    return {sample["metric"].get("model", ""): float(sample["value"][1]) for sample in result}


def prometheus_config(tmp_path: Path, targets: list[str]) -> Path:
    """The shipped scrape.yml with ``targets`` in its job, scraped every second, and the
    shipped rules (by their path: the copy is not beside them)."""
    config = yaml.safe_load(SCRAPE.read_text())
    job = config["scrape_configs"][0]
    job["static_configs"][0]["targets"] = targets
    job["scrape_interval"] = "1s"
    config["global"] = {"evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running_prometheus(tmp_path: Path, config: Path) -> AsyncIterator[Prometheus]:
    """Debian's prometheus on a free loopback port with its own data directory, once ready;
    killed at the end."""
    log = tmp_path / "prometheus.log"
    port = free_port()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", log)
    try:
        async with asyncio.timeout(DEADLINE), aiohttp.ClientSession() as session:
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"prometheus exited:\n{log.read_text()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{prometheus.url}/-/ready") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(POLL)
        yield prometheus
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The daemon (sim and other; one GPU through the fake NVML) after one streamed request,
    with a second held open mid-stream so the sim's server shows it running; Prometheus
    scraping it, and a second target of its job where nothing answers."""
    tmp_path = tmp_path_factory.mktemp("prometheus")
    config = base_config(tmp_path, [sim_recipe(), sim_recipe("other")])
    nvml = tmp_path / "gpus.json"
    nvml.write_text(json.dumps({"devices": [GPU]}))
    env = {"PYTHONPATH": str(FAKE_NVML), "AUTOSRED_FAKE_NVML": str(nvml)}
    async with running_daemon(tmp_path, config, env=env) as daemon:
        client = anthropic.AsyncAnthropic(base_url=daemon.api_url, api_key="unused")
        async with client.messages.stream(
            model="sim",
            max_tokens=64,
            messages=[{"role": "user", "content": '#sim {"text": "one two three"}'}],
        ) as stream:
            await stream.get_final_message()
        held = await client.messages.create(
            model="sim",
            max_tokens=64,
            stream=True,
            messages=[{"role": "user", "content": '#sim {"text": "held open", "hang_after": 1}'}],
        )
        try:
            assert (await anext(aiter(held))).type == "message_start"
            down = f"127.0.0.1:{free_port()}"
            scrape = prometheus_config(tmp_path, [daemon.listeners["metrics"], down])
            async with running_prometheus(tmp_path, scrape) as prom:
                yield Stack(daemon, prom, down)
        finally:
            await held.close()
            await client.close()


async def test_a_promql_query_returns_the_daemons_and_the_model_servers_series(
    stack: Stack,
) -> None:
    """The contract through a real scrape: the sim's vllm:* series with model="sim" (the
    recipe), none for the model at zero, and the daemon's own series beside them."""
    prom = stack.prometheus
    running = await prom.until(
        'vllm:num_requests_running{job="autosred"}', lambda r: by_model(r).get("sim") == 1
    )
    assert by_model(running) == {"sim": 1}, "the held stream; other is at zero: nothing"
    labels = running[0]["metric"]
    assert labels["instance"] == stack.daemon.listeners["metrics"]
    assert labels["model_name"] == "sim-served", "the server's own labels are kept"
    assert by_model(await prom.query('vllm:num_requests_waiting{job="autosred"}')) == {"sim": 0}
    kv = by_model(await prom.query('vllm:kv_cache_usage_perc{job="autosred"}'))
    assert set(kv) == {"sim"} and 0 < kv["sim"] < 1, "the held stream's tokens"
    # The down target is scraped on its own schedule: wait for its first scrape too.
    up = await prom.until('up{job="autosred"}', lambda r: len(r) == 2)
    assert {sample["metric"]["instance"]: float(sample["value"][1]) for sample in up} == {
        labels["instance"]: 1,
        stack.down: 0,
    }
    ready = await prom.query('autosred_engine_state{job="autosred", state="ready"} == 1')
    assert by_model(ready) == {"sim": 1}
    served = await prom.query(
        'autosred_requests_total{job="autosred", api="anthropic", model="sim", status="200"}'
    )
    assert by_model(served) == {"sim": 1}, "the finished stream"
    ttft = await prom.query('gen_ai_server_time_to_first_token_seconds_count{model="sim"}')
    assert sum(by_model(ttft).values()) == 2, "both streams sent their first byte"


def evaluated_at(rule: dict[str, Any]) -> float:
    """A rule's last evaluation (Prometheus gives RFC 3339 with nanoseconds)."""
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", rule["lastEvaluation"].replace("Z", "+00:00"))
    return datetime.fromisoformat(stamp).timestamp()


async def test_the_shipped_alert_rules_evaluate_and_see_only_the_target_that_is_down(
    stack: Stack,
) -> None:
    """Every rule of the shipped file evaluates on the live series without error, and once
    the daemon has been scraped none fires or is pending (the first evaluations may precede
    the first scrape, when AutosredMetricsAbsent is rightly pending: wait past them), but
    AutosredDown for the target that does not answer."""
    prom = stack.prometheus
    await prom.until('up{job="autosred"}', lambda r: len(r) == 2)
    scraped = time.time()
    expected = {rule["alert"] for rule in load_rules()}
    groups: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while True:
                groups = (await prom.api("/api/v1/rules"))["groups"]
                rules = [rule for group in groups for rule in group["rules"]]
                if rules and all(evaluated_at(rule) > scraped + 1 for rule in rules):
                    break
                await asyncio.sleep(POLL)
    except TimeoutError:
        raise AssertionError(f"rules not evaluated since the first scrape: {groups}") from None
    assert [group["name"] for group in groups] == ["autosred"]
    assert {rule["name"] for rule in rules} == expected
    for rule in rules:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
    alerts = (await prom.api("/api/v1/alerts"))["alerts"]
    assert [alert["labels"] for alert in alerts] == [
        {"alertname": "AutosredDown", "instance": stack.down, "job": "autosred"}
        | {"severity": "critical"}
    ], "the daemon that answers fires nothing"
    # Pending for its 2 minutes (firing once they are over, on a slow run).
    assert alerts[0]["state"] in {"pending", "firing"}
    assert alerts[0]["annotations"]["summary"] == f"autosred on {stack.down} is down"


async def test_every_dashboard_query_runs_on_the_live_series(stack: Stack) -> None:
    """Each query as Grafana sends it (all models, all hosts), run by Prometheus; those whose
    series this box has return them, and the state timeline reads sim ready, other stopped."""
    prom = stack.prometheus
    # Wait until two scrapes saw the streams' counters, so rate() has its two points.
    await prom.until(
        'count_over_time(autosred_requests_total{model="sim"}[1m])',
        lambda r: bool(r) and float(r[0]["value"][1]) >= 3,
    )
    dashboard = load_dashboard()
    results = {}
    for query in queries(dashboard):
        results[query] = await prom.query(query.promql)
    by_panel: dict[str, Vector] = {}
    for query, result in results.items():
        by_panel.setdefault(query.where, []).extend(result)
    with_data = {
        "Model state",
        "Wakes in range",
        "In flight and held",
        "Request rate by surface",
        "Time to first byte",
        "Time to first token",
        "Request duration",
        "Tokens per second by client",
        "Tokens per request",
        "Server tokens per second",
        "Requests running and waiting",
        "KV cache usage",
        "Prefix cache hit rate",
        "GPU memory",
        "GPU utilisation",
        "GPU temperature and power",
        "variable instance",
        "variable model",
    }
    empty = sorted(title for title in with_data if not by_panel.get(title))
    assert not empty, f"no series for {empty}"
    state = next(q for q in results if q.where == "Model state")
    assert by_model(results[state]) == {"sim": 2, "other": 0}, "2 ready, 0 stopped"
    kv = next(q for q in results if q.where == "KV cache usage")
    assert by_model(results[kv])["sim"] > 0
    gpu = next(q for q in results if q.where == "GPU memory" and "used" in q.expr)
    used = float(results[gpu][0]["value"][1])
    assert math.isclose(used, 41 * 2**30), "total 141 GiB less 100 GiB free (the fake NVML)"


async def test_the_dashboard_and_rules_read_only_series_the_daemon_exports(stack: Stack) -> None:
    """No dangling name: each metric a panel, a variable or an alert reads is in a live scrape
    of the daemon or registered in its code (series that appear with their first event), and
    each vllm:* one is in the live scrape (the model server's, through the daemon)."""
    scraped = sample_names_in(await stack.daemon.metrics())
    exported = scraped | registered_sample_names() | PROMETHEUS_OWN
    read: dict[str, set[str]] = {}
    sources: list[Query] = queries(load_dashboard())
    sources += [Query(f"alert {rule['alert']}", rule["expr"]) for rule in load_rules()]
    for query in sources:
        for name in metric_names(query.promql):
            read.setdefault(name, set()).add(query.where)
    dangling = {name: where for name, where in read.items() if name not in exported}
    assert not dangling, f"read but not exported: {dangling}"
    server = {name for name in read if name.startswith("vllm:")}
    assert server and server <= scraped, f"not in the live scrape: {server - scraped}"
    assert len(read) >= 20, sorted(read)
