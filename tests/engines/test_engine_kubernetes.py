"""The kubernetes engine against the fake k3s, through the official client over HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from autosred.config import EngineSettings
from autosred.engines.base import EngineUnavailable, Observed, Ready, WakeFailed, WakeProgress
from autosred.engines.kubernetes import KubernetesEngine
from autosred.kube import KubeClient, RetryPolicy
from autosred.recipes import Recipe
from autosred.recipes.render import (
    DIGEST_ANNOTATION,
    HASH_ANNOTATION,
    IMAGE_ANNOTATION,
    recipe_hash,
)
from fake_k3s import UNSCHEDULABLE_MESSAGE, FakeCluster, running_cluster
from fake_k3s.resources import DEPLOYMENTS

FAST: dict[str, Any] = {
    "pull_delay": 0.05,
    "start_delay": 0.2,
    "schedule_delay": 0.0,
    "backoff": 0.3,
    "probe_interval": 0.05,
}
SELECTOR = "autosred.io/recipe=m1"

MakeEngine = Callable[..., KubernetesEngine]


def recipe(**overrides: Any) -> Recipe:
    data: dict[str, Any] = {
        "name": "m1",
        "served_model_name": "m1-served",
        "model": "org/m1",
        "image": "vllm/vllm-openai:v0.24.0",
        "vllm_args": ["--max-model-len", "4096"],
        "wake_budget": "30s",
    }
    data.update(overrides)
    return Recipe.model_validate(data)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[FakeCluster]:
    async with running_cluster(tmp_path, **FAST) as running:
        yield running


@pytest.fixture
async def make_engine(cluster: FakeCluster) -> AsyncIterator[MakeEngine]:
    engines: list[KubernetesEngine] = []

    def make(*, proc_root: Path = Path("/proc"), **settings: Any) -> KubernetesEngine:
        values: dict[str, Any] = {
            "kind": "kubernetes",
            "kubeconfig": cluster.kubeconfig,
            "health_interval": 0.05,
            "api_retry": 1.0,
            "api_timeout": 5.0,
            "pod_stop_timeout": 15.0,
        }
        values.update(settings)
        engine_settings = EngineSettings(**values)
        log = logging.getLogger("tests.engines.kubernetes")
        # The daemon builds the client (autosred/daemon/engines.py); the engine takes it.
        client = KubeClient.from_config(
            kubeconfig=engine_settings.kubeconfig,
            namespace=engine_settings.namespace,
            log=log.getChild("kube"),
            timeout=engine_settings.api_timeout,
            retry=RetryPolicy(budget=engine_settings.api_retry),
        )
        engine = KubernetesEngine(
            settings=engine_settings, log=log, client=client, proc_root=proc_root
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


async def wake(engine: KubernetesEngine, r: Recipe) -> list[WakeProgress]:
    steps = []
    async with asyncio.timeout(30):
        async for step in engine.start(r):
            steps.append(step)
    return steps


def ready_of(steps: list[WakeProgress]) -> Ready:
    """The last step of a wake carries the endpoint (the engine keeps no copy of it)."""
    last = steps[-1]
    assert isinstance(last, Ready), steps
    return last


async def served_models(url: str) -> list[str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v1/models") as response:
            body = await response.json()
    return [item["id"] for item in body["data"]]


async def test_wake_from_zero_reports_each_phase(
    cluster: FakeCluster, make_engine: MakeEngine
) -> None:
    engine = make_engine()
    r = recipe()
    assert (await engine.observe(r)).state is Observed.STOPPED
    steps = await wake(engine, r)
    phases = [step.phase for step in steps]
    for expected in (
        "deploying",
        "scaling up",
        "scheduled",
        "pulling image",
        "container started",
        "engine loading",
        "ready",
    ):
        assert expected in phases, phases
    assert phases[-1] == "ready"
    order = [phases.index(p) for p in ("scheduled", "pulling image", "engine loading", "ready")]
    assert order == sorted(order)
    pulling = next(step for step in steps if step.phase == "pulling image")
    assert "vllm/vllm-openai:v0.24.0" in pulling.detail
    ready = ready_of(steps)
    assert ready.drift == ()
    url = ready.url
    assert url.host is not None and url.host.startswith("127.") and url.port == 8000
    assert await served_models(str(url)) == ["m1-served"]
    (pod,) = [p for p in cluster.pods(label_selector=SELECTOR)]
    assert pod["metadata"]["annotations"][HASH_ANNOTATION] == recipe_hash(r)
    observed = await engine.observe(r)
    assert observed.state is Observed.RUNNING and observed.drift == ()
    assert observed.endpoint == url


async def test_stop_scales_to_zero_and_waits_for_the_pod(
    cluster: FakeCluster, make_engine: MakeEngine
) -> None:
    engine = make_engine()
    r = recipe()
    await wake(engine, r)
    await engine.stop(r)
    assert cluster.pods(label_selector=SELECTOR) == []
    stopped = await engine.observe(r)
    assert stopped.state is Observed.STOPPED and stopped.endpoint is None
    await engine.stop(r)  # idempotent
    await engine.stop(recipe(name="never-deployed"))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("Unschedulable", f"pod m1-.* cannot be scheduled: {UNSCHEDULABLE_MESSAGE}"),
        ("ImagePullBackOff", "pod m1-.* cannot pull image vllm/vllm-openai:v0.24.0: "),
        ("CrashLoopBackOff", "pod m1-.*: container vllm"),
        ("OOMKilled", "pod m1-.*: container vllm .*OOMKilled"),
    ],
)
async def test_failures_end_the_wake_within_seconds(
    cluster: FakeCluster, make_engine: MakeEngine, mode: str, expected: str
) -> None:
    cluster.control(fail=mode)
    engine = make_engine()
    started = time.monotonic()
    with pytest.raises(WakeFailed, match=expected) as caught:
        await wake(engine, recipe())
    assert time.monotonic() - started < 5, caught.value.reason
    await engine.stop(recipe())
    assert cluster.pods(label_selector=SELECTOR) == []


async def test_a_new_engine_adopts_the_running_pod(
    cluster: FakeCluster, make_engine: MakeEngine
) -> None:
    r = recipe()
    await wake(make_engine(), r)
    (pod,) = cluster.pods(label_selector=SELECTOR)
    fresh = make_engine()
    observed = await fresh.observe(r)
    assert observed.state is Observed.RUNNING, observed.detail
    assert observed.drift == ()
    assert observed.endpoint is not None
    assert observed.endpoint.host == pod["status"]["podIP"]
    # The recipe changed meanwhile: still running, with the drift named.
    changed = await fresh.observe(recipe(vllm_args=["--max-model-len", "8192"]))
    assert changed.state is Observed.RUNNING
    assert changed.drift is not None
    assert [item.field for item in changed.drift][:2] == ["container.args", "pod.recipe-hash"]
    assert "differs from the recipe in container.args" in changed.detail


async def test_a_changed_recipe_is_patched_at_the_next_wake(
    cluster: FakeCluster, make_engine: MakeEngine
) -> None:
    engine = make_engine()
    await wake(engine, recipe())
    await engine.stop(recipe())
    changed = recipe(vllm_args=["--max-model-len", "8192"], env={"A": "1"})
    await wake(engine, changed)
    (pod,) = cluster.pods(label_selector=SELECTOR)
    assert pod["metadata"]["annotations"][HASH_ANNOTATION] == recipe_hash(changed)
    assert pod["spec"]["containers"][0]["args"][-1] == "8192"
    result = await engine.drift(changed)
    assert result.deployed and not result.drifted


async def test_drift_names_fields_and_records_the_digest(
    cluster: FakeCluster, make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    r = recipe()
    assert not (await engine.drift(r)).deployed
    await wake(engine, r)
    annotations = cluster_deployment(cluster)["metadata"]["annotations"]
    assert annotations[IMAGE_ANNOTATION] == "vllm/vllm-openai:v0.24.0"
    assert annotations[DIGEST_ANNOTATION].startswith("sha256:")
    assert not (await engine.drift(r)).drifted
    result = await engine.drift(recipe(image="vllm/vllm-openai:v0.25.0", env={"X": "y"}))
    fields = {item.field: (item.recipe, item.live) for item in result.fields}
    assert fields["container.image"] == ("vllm/vllm-openai:v0.25.0", "vllm/vllm-openai:v0.24.0")
    assert fields["container.env.X"] == ("y", "(none)")
    # Drift is data: the scaler alone logs it (once per change) and exports it
    # (tests/scaler/test_drift.py, tests/daemon/test_kubernetes.py).
    assert not [record for record in caplog.records if "drift" in record.getMessage()]


def cluster_deployment(cluster: FakeCluster) -> dict[str, Any]:
    return dict(cluster.store.get(DEPLOYMENTS, "default", "m1"))


async def test_api_server_down(cluster: FakeCluster, make_engine: MakeEngine) -> None:
    engine = make_engine(api_retry=0.5)
    cluster.control(api_down="503")
    started = time.monotonic()
    with pytest.raises(WakeFailed, match=r"^m1: "):
        await wake(engine, recipe())
    with pytest.raises(EngineUnavailable):
        await engine.observe(recipe())
    assert time.monotonic() - started < 5
    cluster.control(api_down=False)
    assert (await engine.observe(recipe())).state is Observed.STOPPED


async def test_reach_service_uses_the_pinned_cluster_ip(
    cluster: FakeCluster, make_engine: MakeEngine
) -> None:
    # The fake routes ClusterIPs in 127.43.0.0/16 (loopback) to Ready pods, as kube-proxy does.
    engine = make_engine(reach="service")
    r = recipe(service={"cluster_ip": "127.43.7.7", "port": 8080})
    url = ready_of(await wake(engine, r)).url
    assert str(url) == "http://127.43.7.7:8080"
    assert await served_models(str(url)) == ["m1-served"]
    await engine.stop(r)  # one GPU on the fake node
    assigned = recipe(name="m2", served_model_name="m2-served")
    url = ready_of(await wake(engine, assigned)).url
    assert url.host is not None and url.host.startswith("127.43.")
    assert await served_models(str(url)) == ["m2-served"]


async def test_starting_a_changed_recipe_over_a_running_pod_waits_for_the_new_one(
    cluster: FakeCluster, make_engine: MakeEngine
) -> None:
    # What a "redeploy when idle" does: start the new recipe without stopping first. The old
    # pod, Ready until the Deployment's Recreate removes it, must not end the wake.
    engine = make_engine()
    await wake(engine, recipe())
    (old,) = cluster.pods(label_selector=SELECTOR)
    changed = recipe(served_model_name="m1-v2")
    url = ready_of(await wake(engine, changed)).url
    (new,) = [
        p
        for p in cluster.pods(label_selector=SELECTOR)
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert new["metadata"]["annotations"][HASH_ANNOTATION] == recipe_hash(changed)
    assert await served_models(str(url)) == ["m1-v2"]
    live, pod = await engine.live_objects(changed)
    assert live is not None and pod is not None
    assert pod["metadata"]["uid"] == new["metadata"]["uid"]


async def test_the_log_tail_is_the_pods_last_log_lines(
    cluster: FakeCluster, make_engine: MakeEngine
) -> None:
    engine = make_engine()
    r = recipe()
    assert await engine.log_tail(r, 5) == [], "no pod, no log"
    await wake(engine, r)
    (pod,) = cluster.pods(label_selector=SELECTOR)
    metadata = pod["metadata"]
    # What the fake kubelet kept of the pod's output (the log subresource serves it).
    written = cluster.kubelet.logs(metadata["namespace"], metadata["name"], None, False)
    assert written, "the sim in the pod wrote something"
    assert await engine.log_tail(r, 3) == written[-3:]
    await engine.stop(r)
    assert await engine.log_tail(r, 3) == []


async def test_the_servers_processes_are_those_in_the_pods_cgroup(
    cluster: FakeCluster, make_engine: MakeEngine, tmp_path: Path
) -> None:
    # The host's /proc as the kernel shows it for a kubelet's containers (an OS edge: the fake
    # kubelet runs its sims as plain processes, in no pod's cgroup).
    proc = tmp_path / "proc"
    engine = make_engine(proc_root=proc)
    r = recipe()
    assert await engine.server_processes(r, {100}) == set(), "no pod"
    await wake(engine, r)
    (pod,) = cluster.pods(label_selector=SELECTOR)
    uid = pod["metadata"]["uid"]
    cgroups = {
        100: f"0::/kubepods/besteffort/pod{uid}/0123abcd\n",  # cgroupfs driver
        101: "0::/kubepods.slice/kubepods-besteffort.slice/"
        f"kubepods-besteffort-pod{uid.replace('-', '_')}.slice/cri-containerd-9f.scope\n",
        102: "0::/system.slice/autosred.service\n",  # someone else's
    }
    for pid, text in cgroups.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cgroup").write_text(text)
    assert await engine.server_processes(r, {100, 101, 102, 103}) == {100, 101}
    await engine.stop(r)
    assert await engine.server_processes(r, {100, 101}) == set()
