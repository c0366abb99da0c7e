"""REST semantics through the official client: discovery, CRUD, patches, scale, errors."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from fake_k3s import FakeCluster
from tests.fakes_tests.support import NS, Kube, deployment, status_body


async def test_discovery(kube: Kube) -> None:
    version = await kube(client.VersionApi(kube.api_client).get_code)
    assert version.git_version.endswith("+k3s1") and version.major == "1"
    core = await kube(client.CoreApi(kube.api_client).get_api_versions)
    assert core.versions == ["v1"]
    groups = await kube(client.ApisApi(kube.api_client).get_api_versions)
    assert "apps" in [g.name for g in groups.groups]
    apps = await kube(kube.apps.get_api_resources)
    names = {r.name: r for r in apps.resources}
    assert {"deployments", "deployments/scale", "deployments/status", "replicasets"} <= set(names)
    assert (
        names["deployments/scale"].group == "autoscaling"
        and names["deployments/scale"].kind == "Scale"
    )
    v1 = await kube(kube.core.get_api_resources)
    assert {"pods", "pods/log", "services", "events", "namespaces", "nodes"} <= {
        r.name for r in v1.resources
    }
    nodes = await kube(kube.core.list_node)
    assert nodes.items[0].status.capacity["nvidia.com/gpu"] == "1"
    namespace = await kube(kube.core.read_namespace, "default")
    assert namespace.status.phase == "Active"


async def test_not_found_and_already_exist_are_status_errors(kube: Kube) -> None:
    with pytest.raises(ApiException) as missing:
        await kube(kube.apps.read_namespaced_deployment, "nope", NS)
    assert missing.value.status == 404
    body = status_body(missing.value)
    assert body["reason"] == "NotFound" and body["code"] == 404
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}

    created = await kube(kube.apps.create_namespaced_deployment, NS, deployment("m"))
    assert created.metadata.uid and created.metadata.generation == 1
    assert created.metadata.namespace == NS and created.metadata.creation_timestamp is not None
    with pytest.raises(ApiException) as twice:
        await kube(kube.apps.create_namespaced_deployment, NS, deployment("m"))
    assert twice.value.status == 409 and status_body(twice.value)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as no_pod:
        await kube(kube.core.read_namespaced_pod, "ghost", NS)
    assert status_body(no_pod.value)["message"] == 'pods "ghost" not found'


async def test_defaults_and_validation(kube: Kube) -> None:
    created = await kube(kube.apps.create_namespaced_deployment, NS, deployment("m"))
    container = created.spec.template.spec.containers[0]
    assert container.image_pull_policy == "IfNotPresent"
    assert container.resources.requests == {"nvidia.com/gpu": "1"}  # copied from limits
    assert created.spec.template.spec.termination_grace_period_seconds == 30
    assert (
        created.spec.strategy.rolling_update is None and created.spec.revision_history_limit == 10
    )
    rolling = await kube(
        kube.apps.create_namespaced_deployment, NS, deployment("r", strategy="RollingUpdate")
    )
    assert rolling.spec.strategy.rolling_update.max_surge == "25%"

    bad = deployment("bad")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as invalid:
        await kube(kube.apps.create_namespaced_deployment, NS, bad)
    body = status_body(invalid.value)
    assert invalid.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    with pytest.raises(ApiException) as bad_name:
        await kube(kube.apps.create_namespaced_deployment, NS, deployment("Bad_Name"))
    assert status_body(bad_name.value)["details"]["causes"][0]["field"] == "metadata.name"
    # The classic trap: switching to Recreate with a merge patch leaves rollingUpdate behind.
    recreate = {"spec": {"strategy": {"type": "Recreate"}}}
    with pytest.raises(ApiException) as trap:
        await kube(
            kube.apps.patch_namespaced_deployment, "r", NS, recreate,
            _content_type="application/merge-patch+json",
        )  # fmt: skip
    assert status_body(trap.value)["details"]["causes"][0]["field"] == "spec.strategy.rollingUpdate"


async def test_list_honours_label_selectors(kube: Kube) -> None:
    for name, tier in (("a", "gpu"), ("b", "gpu"), ("c", "cpu")):
        await kube(
            kube.apps.create_namespaced_deployment,
            NS,
            deployment(name, extra_labels={"tier": tier}),
        )
    cases = {
        "tier=gpu": ["a", "b"],
        "tier!=gpu": ["c"],
        "app in (a,c)": ["a", "c"],
        "app notin (a),tier": ["b", "c"],
        "!tier": [],
        "app=a,tier=cpu": [],
    }
    for selector, names in cases.items():
        listed = await kube(kube.apps.list_namespaced_deployment, NS, label_selector=selector)
        assert [d.metadata.name for d in listed.items] == names, selector
    everything = await kube(kube.apps.list_deployment_for_all_namespaces)
    assert len(everything.items) == 3 and int(everything.metadata.resource_version) > 0
    with pytest.raises(ApiException) as bad:
        await kube(kube.apps.list_namespaced_deployment, NS, label_selector="app in (")
    assert bad.value.status == 400


async def test_replace_and_patches_bump_generation_and_detect_conflicts(kube: Kube) -> None:
    created = await kube(kube.apps.create_namespaced_deployment, NS, deployment("m"))
    stale = created.metadata.resource_version

    merged = await kube(
        kube.apps.patch_namespaced_deployment, "m", NS, {"metadata": {"annotations": {"a": "1"}}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    assert merged.metadata.generation == 1  # metadata only: the spec did not change
    assert int(merged.metadata.resource_version) > int(stale)

    # Strategic merge (the client's default for a dict): containers merge by name.
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "vllm", "env": [{"name": "X", "value": "1"}]}]}
            }
        }
    }
    strategic = await kube(kube.apps.patch_namespaced_deployment, "m", NS, patch)
    container = strategic.spec.template.spec.containers[0]
    assert container.image == "vllm/vllm-openai:v0.24.0" and container.env[0].name == "X"
    assert strategic.metadata.generation == 2

    ops = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "img:2"}]
    patched = await kube(kube.apps.patch_namespaced_deployment, "m", NS, ops)  # a list: JSON patch
    assert (
        patched.spec.template.spec.containers[0].image == "img:2"
        and patched.metadata.generation == 3
    )

    body = kube.api_client.sanitize_for_serialization(patched)  # type: ignore[no-untyped-call]
    body["metadata"]["resourceVersion"] = stale
    with pytest.raises(ApiException) as conflict:
        await kube(kube.apps.replace_namespaced_deployment, "m", NS, body)
    assert conflict.value.status == 409 and status_body(conflict.value)["reason"] == "Conflict"
    # The controller has written status (observedGeneration) since: read the latest version.
    latest = await kube(kube.apps.read_namespaced_deployment, "m", NS)
    assert latest.status.observed_generation == 3
    body["metadata"]["resourceVersion"] = latest.metadata.resource_version
    body["spec"]["replicas"] = 0
    body["status"] = {"replicas": 99}  # ignored: status is the controller's
    replaced = await kube(kube.apps.replace_namespaced_deployment, "m", NS, body)
    assert replaced.metadata.uid == created.metadata.uid and replaced.status.replicas is None

    labels = {"app": "x"}
    moved = {
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}}}
    }
    with pytest.raises(ApiException) as immutable:
        await kube(kube.apps.patch_namespaced_deployment, "m", NS, moved)
    assert "field is immutable" in status_body(immutable.value)["message"]


async def test_scale_subresource(kube: Kube, cluster: FakeCluster) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", gpus=0))
    scale = await kube(kube.apps.read_namespaced_deployment_scale, "m", NS)
    assert scale.kind == "Scale" and scale.api_version == "autoscaling/v1"
    assert scale.spec.replicas == 0 and scale.status.selector == "app=m"
    body = {
        "metadata": {"name": "m", "resourceVersion": scale.metadata.resource_version},
        "spec": {"replicas": 2},
    }
    replaced = await kube(kube.apps.replace_namespaced_deployment_scale, "m", NS, body)
    assert replaced.spec.replicas == 2
    with pytest.raises(ApiException) as stale:
        await kube(kube.apps.replace_namespaced_deployment_scale, "m", NS, body)
    assert stale.value.status == 409
    merged = await kube(
        kube.apps.patch_namespaced_deployment_scale, "m", NS, {"spec": {"replicas": 0}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    assert merged.spec.replicas == 0
    live = await kube(kube.apps.read_namespaced_deployment, "m", NS)
    assert live.spec.replicas == 0 and live.metadata.generation == 3
    with pytest.raises(ApiException) as negative:
        await kube(kube.apps.patch_namespaced_deployment_scale, "m", NS, {"spec": {"replicas": -1}})
    assert negative.value.status == 422
    with pytest.raises(ApiException) as missing:
        await kube(kube.apps.read_namespaced_deployment_scale, "nope", NS)
    assert missing.value.status == 404


async def test_services(kube: Kube) -> None:
    def body(name: str, cluster_ip: str | None = None) -> dict[str, object]:
        spec: dict[str, object] = {"selector": {"app": name}, "ports": [{"port": 8000}]}
        if cluster_ip:
            spec["clusterIP"] = cluster_ip
        return {"metadata": {"name": name}, "spec": spec}

    pinned = await kube(kube.core.create_namespaced_service, NS, body("pinned", "10.43.0.50"))
    assert pinned.spec.cluster_ip == "10.43.0.50" and pinned.spec.ports[0].target_port == 8000
    allocated = await kube(kube.core.create_namespaced_service, NS, body("auto"))
    assert allocated.spec.cluster_ip.startswith("127.43.")
    with pytest.raises(ApiException) as taken:
        await kube(kube.core.create_namespaced_service, NS, body("again", "10.43.0.50"))
    assert taken.value.status == 422 and "already allocated" in status_body(taken.value)["message"]
    patched = await kube(
        kube.core.patch_namespaced_service, "pinned", NS, {"metadata": {"labels": {"x": "y"}}}
    )
    assert patched.spec.cluster_ip == "10.43.0.50" and patched.metadata.labels == {"x": "y"}
    with pytest.raises(ApiException) as immutable:
        await kube(
            kube.core.patch_namespaced_service, "pinned", NS, {"spec": {"clusterIP": "10.43.0.51"}}
        )
    assert immutable.value.status == 422
    read = await kube(kube.core.read_namespaced_service, "pinned", NS)
    assert read.spec.cluster_ip == "10.43.0.50"
    await kube(kube.core.delete_namespaced_service, "pinned", NS)
    with pytest.raises(ApiException) as gone:
        await kube(kube.core.read_namespaced_service, "pinned", NS)
    assert gone.value.status == 404
