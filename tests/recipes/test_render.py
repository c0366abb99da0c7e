"""Rendering a recipe: the Deployment, the Service, the process command line, Helm values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from autosred.recipes import Recipe
from autosred.recipes.render import (
    HASH_ANNOTATION,
    RenderError,
    helm_values,
    image_digest,
    label_selector,
    object_name,
    process_command,
    recipe_hash,
    render_deployment,
    render_service,
    split_image,
)


def recipe(**overrides: Any) -> Recipe:
    data: dict[str, Any] = {
        "name": "qwen3.6-a3b",
        "served_model_name": "qwen",
        "model": "org/Qwen3.6",
        "image": "vllm/vllm-openai:v0.24.0",
        "vllm_args": ["--enable-chunked-prefill", "--speculative-config", '{"n": 2}'],
        "env": {"VLLM_LOGGING_LEVEL": "DEBUG"},
        "gpu": {"count": 2},
        "wake_budget": "60s",
    }
    data.update(overrides)
    return Recipe.model_validate(data)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def test_deployment_carries_the_recipe() -> None:
    deployment = render_deployment(recipe(), namespace="models")
    assert deployment["metadata"]["name"] == "qwen3-6-a3b"
    assert deployment["metadata"]["namespace"] == "models"
    assert deployment["spec"]["replicas"] == 0
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "autosred-model"
    assert labels["autosred.io/recipe"] == "qwen3.6-a3b"
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "autosred-model",
        "autosred.io/recipe": "qwen3.6-a3b",
    }
    main = container(deployment)
    assert main["image"] == "vllm/vllm-openai:v0.24.0"
    assert main["command"] == ["vllm", "serve"]
    assert main["args"] == [
        "org/Qwen3.6",
        "--served-model-name",
        "qwen",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--enable-chunked-prefill",
        "--speculative-config",
        '{"n": 2}',
    ]
    assert main["resources"] == {
        "limits": {"nvidia.com/gpu": "2"},
        "requests": {"nvidia.com/gpu": "2"},
    }
    env = {item["name"]: item["value"] for item in main["env"]}
    assert env == {"HF_HOME": "/root/.cache/huggingface", "VLLM_LOGGING_LEVEL": "DEBUG"}
    assert main["startupProbe"]["httpGet"]["path"] == "/health"
    # The kubelet gives a loading server the whole wake budget (60 s / 5 s + 1).
    assert main["startupProbe"]["failureThreshold"] == 13
    assert main["readinessProbe"]["periodSeconds"] == 2
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["hf-cache"]["hostPath"]["path"] == "/var/cache/autosred/huggingface"
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts == {"hf-cache": "/root/.cache/huggingface", "dshm": "/dev/shm"}


def test_the_hash_is_stable_and_follows_the_spec() -> None:
    first = render_deployment(recipe())
    again = render_deployment(recipe())
    assert first == again
    digest = first["metadata"]["annotations"][HASH_ANNOTATION]
    assert first["spec"]["template"]["metadata"]["annotations"][HASH_ANNOTATION] == digest
    assert recipe_hash(recipe()) == digest
    assert len(digest) == 64
    assert recipe_hash(recipe(vllm_args=["--x"])) != digest
    assert recipe_hash(recipe(image="vllm/vllm-openai:v0.25.0")) != digest
    # Client-side keys do not change what runs.
    assert recipe_hash(recipe(aliases=["claude-*"], idle_timeout="1h")) == digest


def test_optional_parts() -> None:
    deployment = render_deployment(
        recipe(
            hf_cache=None,
            gpu={"count": 0},
            runtime_class="nvidia",
            port=9000,
            revision="abc123",
            shm_size="2Gi",
            env={},
        )
    )
    main = container(deployment)
    assert main["resources"] == {}
    assert main["env"] == []
    assert main["args"][1:9] == [
        "--served-model-name",
        "qwen",
        "--host",
        "0.0.0.0",
        "--port",
        "9000",
        "--revision",
        "abc123",
    ]
    assert main["ports"][0]["containerPort"] == 9000
    spec = deployment["spec"]["template"]["spec"]
    assert spec["runtimeClassName"] == "nvidia"
    assert [v["name"] for v in spec["volumes"]] == ["dshm"]
    assert spec["volumes"][0]["emptyDir"]["sizeLimit"] == "2Gi"


def test_missing_image_or_model_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="set image"):
        render_deployment(recipe(image=None))
    with pytest.raises(RenderError, match="set model"):
        render_deployment(recipe(model=None))


def test_service_pins_the_cluster_ip() -> None:
    service = render_service(recipe(service={"cluster_ip": "10.43.0.50", "port": 80}))
    assert service["spec"]["clusterIP"] == "10.43.0.50"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}
    ]
    assert service["spec"]["selector"]["autosred.io/recipe"] == "qwen3.6-a3b"
    assert "clusterIP" not in render_service(recipe())["spec"]


def test_bad_cluster_ip_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        recipe(service={"cluster_ip": "ten.one"})


def test_process_command_escapes_literal_braces() -> None:
    command = process_command(recipe())
    assert command is not None
    assert command[:9] == [
        "vllm",
        "serve",
        "{model}",
        "--served-model-name",
        "{served_model_name}",
        "--host",
        "{host}",
        "--port",
        "{port}",
    ]
    assert command[-1] == '{{"n": 2}}'
    assert process_command(recipe(command=["x", "{port}"])) == ["x", "{port}"]
    assert process_command(recipe(model=None)) is None


def test_names_and_selectors() -> None:
    assert object_name(recipe(name="9lives")) == "m-9lives"
    assert object_name(recipe(name="a_b.c")) == "a-b-c"
    assert label_selector(recipe()) == (
        "app.kubernetes.io/name=autosred-model,autosred.io/recipe=qwen3.6-a3b"
    )


def test_images_and_digests() -> None:
    sha = "sha256:" + "a" * 64
    assert split_image(f"vllm/vllm-openai:v1@{sha}") == ("vllm/vllm-openai:v1", sha)
    assert split_image("vllm/vllm-openai:v1") == ("vllm/vllm-openai:v1", None)
    assert image_digest(f"docker.io/vllm/vllm-openai@{sha}") == sha
    assert image_digest("") is None


def test_helm_values_describe_the_same_deployment() -> None:
    r = recipe(service={"cluster_ip": "10.43.0.50"})
    values = helm_values(r)
    assert values["recipeHash"] == recipe_hash(r)
    assert values["image"] == r.image
    assert values["args"] == list(r.vllm_args)
    assert values["gpus"] == 2
    assert values["service"] == {"clusterIP": "10.43.0.50", "port": 8000}
    # Values are plain data (YAML-safe), not shared with the recipe.
    copy.deepcopy(values)["args"].append("x")
    assert helm_values(r)["args"] == list(r.vllm_args)
