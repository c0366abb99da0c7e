"""Server-side apply through the official client: field managers, conflicts, force, removal of
fields a manager stopped applying, dry-run=All, and managedFields as the API server writes
them (the Kubernetes docs, "Server-Side Apply")."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.fakes_tests.support import JSON, NS, Kube, deployment, status_body

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


async def apply(kube: Kube, body: JSON, manager: str = "ops", **options: Any) -> JSON:
    result = await kube(
        kube.apps.patch_namespaced_deployment, body["metadata"]["name"], NS, body,
        field_manager=manager, _content_type=APPLY, _preload_content=False, **options,
    )  # fmt: skip
    answer: JSON = json.loads(result.data)
    return answer


async def read(kube: Kube, name: str) -> JSON:
    result = await kube(kube.apps.read_namespaced_deployment, name, NS, _preload_content=False)
    answer: JSON = json.loads(result.data)
    return answer


def managers(obj: JSON) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


def container(obj: JSON) -> JSON:
    found: JSON = obj["spec"]["template"]["spec"]["containers"][0]
    return found


async def test_apply_creates_then_a_second_apply_changes_nothing(kube: Kube) -> None:
    created = await apply(kube, deployment("a"))
    assert created["metadata"]["generation"] == 1
    assert managers(created) == [("ops", "Apply")]
    fields = created["metadata"]["managedFields"][0]["fieldsV1"]
    assert 'k:{"name":"vllm"}' in fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
    before = await read(kube, "a")
    again = await apply(kube, deployment("a"))
    # The controllers write status meanwhile; the apply itself writes nothing.
    assert without_status(again) == without_status(before)
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def without_status(obj: JSON) -> JSON:
    rest = {key: value for key, value in obj.items() if key != "status"}
    rest["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return rest


async def test_a_field_another_manager_set_conflicts_unless_forced(kube: Kube) -> None:
    await apply(kube, deployment("c"))
    drift = {"spec": {"template": {"spec": {"containers": [{"name": "vllm", "image": "x:9"}]}}}}
    drifted = await kube(
        kube.apps.patch_namespaced_deployment, "c", NS, drift,
        field_manager="kubectl-edit", _content_type=STRATEGIC,
    )  # fmt: skip
    assert drifted.metadata.generation == 2
    with pytest.raises(ApiException) as caught:
        await apply(kube, deployment("c"))
    assert caught.value.status == 409
    status = status_body(caught.value)
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: '
        '.spec.template.spec.containers[name="vllm"].image'
    )
    assert status["details"]["causes"][0]["reason"] == "FieldManagerConflict"
    assert container(await read(kube, "c"))["image"] == "x:9"
    # The same value another manager set is shared, not a conflict.
    same = copy.deepcopy(deployment("c"))
    container(same)["image"] = "x:9"
    await apply(kube, same, manager="other")
    restored = await apply(kube, deployment("c"), force=True)
    assert container(restored)["image"] == "vllm/vllm-openai:v0.24.0"
    assert restored["metadata"]["generation"] == 3
    # Forced: the image is the applier's alone now, so the next apply is quiet.
    assert (await apply(kube, deployment("c")))["metadata"]["generation"] == 3


async def test_a_field_no_longer_applied_is_removed_unless_another_owns_it(kube: Kube) -> None:
    with_env = deployment("r")
    container(with_env)["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    await apply(kube, with_env)
    await kube(
        kube.apps.patch_namespaced_deployment, "r", NS,
        {"metadata": {"annotations": {"keep": "me"}}},
        field_manager="someone", _content_type=MERGE,
    )  # fmt: skip
    only_a = deployment("r")
    container(only_a)["env"] = [{"name": "A", "value": "1"}]
    result = await apply(kube, only_a)
    assert container(result)["env"] == [{"name": "A", "value": "1"}]
    assert result["metadata"]["annotations"] == {"keep": "me"}


async def test_the_scale_subresource_and_updates_record_their_managers(kube: Kube) -> None:
    created = await kube(kube.apps.create_namespaced_deployment, NS, deployment("s"))
    assert created.metadata.managed_fields[0].manager == "OpenAPI-Generator"
    await kube(
        kube.apps.patch_namespaced_deployment_scale, "s", NS, {"spec": {"replicas": 1}},
        field_manager="scaler", _content_type=MERGE,
    )  # fmt: skip
    live = await read(kube, "s")
    scale = [e for e in live["metadata"]["managedFields"] if e["manager"] == "scaler"]
    assert scale[0]["subresource"] == "scale"
    assert scale[0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    # Applying the live replicas is shared ownership; another count is a conflict.
    assert (await apply(kube, deployment("s", replicas=1)))["spec"]["replicas"] == 1
    with pytest.raises(ApiException) as caught:
        await apply(kube, deployment("s", replicas=0))
    assert ".spec.replicas" in status_body(caught.value)["message"]


async def test_dry_run_answers_the_result_and_stores_nothing(kube: Kube) -> None:
    preview = await apply(kube, deployment("d"), dry_run="All")
    assert preview["metadata"]["name"] == "d"
    with pytest.raises(ApiException) as caught:
        await read(kube, "d")
    assert caught.value.status == 404
    await apply(kube, deployment("d"))
    before = await read(kube, "d")
    changed = deployment("d", image="img:2")
    preview = await apply(kube, changed, dry_run="All")
    assert container(preview)["image"] == "img:2"
    assert preview["metadata"]["generation"] == 2
    after = await read(kube, "d")
    assert without_status(after) == without_status(before)
    with pytest.raises(ApiException) as bad:
        await apply(kube, changed, dry_run="Some")
    assert bad.value.status == 400


async def test_apply_needs_a_field_manager_and_the_urls_name(kube: Kube) -> None:
    for manager, name in ((None, "n"), ("ops", "other")):
        with pytest.raises(ApiException) as caught:
            await kube(
                kube.apps.patch_namespaced_deployment, name, NS, deployment("n"),
                field_manager=manager, _content_type=APPLY,
            )  # fmt: skip
        assert caught.value.status == 400
