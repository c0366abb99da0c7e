"""Drift: field-level differences between the rendered Deployment and live objects."""

from __future__ import annotations

import copy
from typing import Any

from autosred.recipes import Recipe
from autosred.recipes.drift import compare, expected_digest
from autosred.recipes.render import (
    DIGEST_ANNOTATION,
    HASH_ANNOTATION,
    IMAGE_ANNOTATION,
    render_deployment,
)

SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64


def recipe(**overrides: Any) -> Recipe:
    data: dict[str, Any] = {
        "name": "m",
        "model": "org/m",
        "image": "vllm/vllm-openai:v0.24.0",
        "vllm_args": ["--enable-chunked-prefill"],
        "env": {"A": "1"},
    }
    data.update(overrides)
    return Recipe.model_validate(data)


def as_served(deployment: dict[str, Any]) -> dict[str, Any]:
    """The Deployment as an API server returns it: defaults filled in, status added."""
    live = copy.deepcopy(deployment)
    live["metadata"].update({"uid": "u1", "resourceVersion": "7", "generation": 3})
    spec = live["spec"]["template"]["spec"]
    spec.update({"dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler"})
    spec["volumes"][0]["hostPath"]["extra"] = "ignored"
    main = spec["containers"][0]
    main["startupProbe"]["extra"] = 1
    live["status"] = {"replicas": 1}
    return live


def pod_of(deployment: dict[str, Any], *, image_id: str = "") -> dict[str, Any]:
    template = deployment["spec"]["template"]
    return {
        "metadata": {"name": "m-abc-xyz", **copy.deepcopy(template["metadata"])},
        "spec": copy.deepcopy(template["spec"]),
        "status": {"containerStatuses": [{"name": "vllm", "imageID": image_id}]},
    }


def fields(result: Any) -> dict[str, tuple[str, str]]:
    return {item.field: (item.recipe, item.live) for item in result.fields}


def test_same_spec_with_server_defaults_is_no_drift() -> None:
    want = render_deployment(recipe())
    live = as_served(want)
    result = compare(want, live, pod_of(live))
    assert not result.drifted
    assert result.deployed and result.pod == "m-abc-xyz"
    assert result.live_hash == result.recipe_hash


def test_no_deployment_is_not_drift() -> None:
    result = compare(render_deployment(recipe()), None)
    assert not result.deployed and not result.drifted


def test_changed_fields_are_named() -> None:
    want = render_deployment(recipe(vllm_args=["--x"], env={"A": "2", "B": "3"}, gpu={"count": 2}))
    live = as_served(render_deployment(recipe()))
    result = compare(want, live)
    found = fields(result)
    assert found["container.args"][0].endswith('"--x"]')
    assert found["container.args"][1].endswith('"--enable-chunked-prefill"]')
    assert found["container.env.A"] == ("2", "1")
    assert found["container.env.B"] == ("3", "(none)")
    assert "container.resources" in found
    assert result.recipe_hash != result.live_hash


def test_live_edits_are_drift() -> None:
    want = render_deployment(recipe())
    live = as_served(want)
    main = live["spec"]["template"]["spec"]["containers"][0]
    main["image"] = "vllm/vllm-openai:latest"
    main["env"].append({"name": "HACK", "value": "1"})
    main["readinessProbe"]["periodSeconds"] = 30
    found = fields(compare(want, live))
    assert found["container.image"] == ("vllm/vllm-openai:v0.24.0", "vllm/vllm-openai:latest")
    assert found["container.env.HACK"] == ("(none)", "1")
    assert "container.readinessProbe" in found


def test_a_pod_from_an_older_spec() -> None:
    old = as_served(render_deployment(recipe()))
    want = render_deployment(recipe(vllm_args=["--y"]))
    live = as_served(want)
    found = fields(compare(want, live, pod_of(old)))
    assert "pod.recipe-hash" in found
    assert "pod.container.args" in found
    assert "container.args" not in found


def test_image_digest_recorded_then_changed() -> None:
    want = render_deployment(recipe())
    live = as_served(want)
    assert expected_digest(want, live) is None  # nothing recorded yet: no digest drift
    live["metadata"]["annotations"].update(
        {IMAGE_ANNOTATION: "vllm/vllm-openai:v0.24.0", DIGEST_ANNOTATION: SHA_A}
    )
    assert not compare(want, live, pod_of(live, image_id=f"docker.io/x@{SHA_A}")).drifted
    found = fields(compare(want, live, pod_of(live, image_id=f"docker.io/x@{SHA_B}")))
    assert found["image.digest"] == (SHA_A, SHA_B)
    # A digest recorded for another tag says nothing about this one.
    live["metadata"]["annotations"][IMAGE_ANNOTATION] = "vllm/vllm-openai:v0.23.0"
    assert expected_digest(want, live) is None


def test_pinned_digest() -> None:
    want = render_deployment(recipe(image=f"vllm/vllm-openai:v0.24.0@{SHA_A}"))
    live = as_served(want)
    found = fields(compare(want, live, pod_of(live, image_id=f"x@{SHA_B}")))
    assert found["image.digest"] == (SHA_A, SHA_B)


def test_other_differences_show_as_the_hash() -> None:
    want = render_deployment(recipe())
    live = as_served(want)
    live["spec"]["template"]["metadata"]["annotations"][HASH_ANNOTATION] = "0" * 64
    assert list(fields(compare(want, live))) == ["recipe-hash"]
