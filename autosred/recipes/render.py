"""From a recipe: the Deployment and Service (kubernetes engine), the command line (process
engine) and the Helm values (helm/autosre). Pure functions; the same recipe always renders the
same objects, byte for byte once serialised.

The Deployment is written out in full, with the values the API server would otherwise default
(probe timeouts, port protocols, image pull policy…), so that what is read back equals what was
rendered, field for field: drift then means a real difference, not a default filled in.

Its annotation ``autosred.io/recipe-hash`` (on the Deployment and on the pod template, so every
pod carries it) is the SHA-256 of the canonical JSON of the rendered spec without that
annotation: a pod whose hash differs from the recipe's was started from another spec.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from typing import Any

from autosred.recipes.model import Recipe

JSON = dict[str, Any]

DEFAULT_PORT = 8000
CONTAINER = "vllm"
NAME_LABEL = "app.kubernetes.io/name"
NAME_VALUE = "autosred-model"
RECIPE_LABEL = "autosred.io/recipe"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
MANAGED_VALUE = "autosred"
HASH_ANNOTATION = "autosred.io/recipe-hash"
IMAGE_ANNOTATION = "autosred.io/image"
"""On the Deployment: the image (tag) whose digest is recorded in DIGEST_ANNOTATION."""
DIGEST_ANNOTATION = "autosred.io/image-digest"
"""On the Deployment: the digest ``IMAGE_ANNOTATION`` resolved to when first seen running."""
HF_CACHE_MOUNT = "/root/.cache/huggingface"
STARTUP_PERIOD = 5
READINESS_PERIOD = 2
TERMINATION_GRACE = 30

_DNS_LABEL_BAD = re.compile(r"[^a-z0-9-]+")


class RenderError(ValueError):
    """The recipe lacks what the target needs (e.g. an image for the kubernetes engine)."""


def object_name(recipe: Recipe) -> str:
    """The Deployment's and Service's name: the recipe name as a DNS-1035 label ('.' and '_'
    become '-'; a leading digit gets an 'm-' prefix)."""
    name = _DNS_LABEL_BAD.sub("-", recipe.name.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"m-{name}"
    return name[:63].rstrip("-")


def selector_labels(recipe: Recipe) -> dict[str, str]:
    """The labels that select the recipe's pods (the Deployment's selector, the Service's)."""
    return {NAME_LABEL: NAME_VALUE, RECIPE_LABEL: recipe.name}


def label_selector(recipe: Recipe) -> str:
    """``selector_labels`` as a label-selector string for list and watch calls."""
    return ",".join(f"{key}={value}" for key, value in selector_labels(recipe).items())


def container_port(recipe: Recipe) -> int:
    return recipe.port or DEFAULT_PORT


def split_image(image: str) -> tuple[str, str | None]:
    """``repo:tag@sha256:…`` -> (``repo:tag``, ``sha256:…``); no digest -> (image, None)."""
    name, at, digest = image.partition("@")
    return (name, digest) if at else (image, None)


def image_digest(image_id: str) -> str | None:
    """The ``sha256:…`` digest in a container status' imageID (``docker.io/x@sha256:…``,
    ``docker-pullable://x@sha256:…`` or a bare ``sha256:…``)."""
    match = re.search(r"sha256:[0-9a-f]{64}", image_id)
    return match.group(0) if match else None


# --- the server's arguments -------------------------------------------------------------------


def vllm_args(recipe: Recipe, *, host: str, port: str) -> list[str]:
    """``MODEL --served-model-name NAME --host HOST --port PORT [--revision R] …vllm_args``."""
    if not recipe.model:
        raise RenderError(f"recipe {recipe.name}: set model (the repository vLLM serves)")
    args = [recipe.model, "--served-model-name", recipe.served_model_name]
    args += ["--host", host, "--port", port]
    if recipe.revision:
        args += ["--revision", recipe.revision]
    return args + list(recipe.vllm_args)


def process_command(recipe: Recipe) -> list[str] | None:
    """The process engine's argv template: ``command`` when set, else ``vllm serve …`` from
    model and vllm_args with the engine's ``{host}``/``{port}`` placeholders; None when the
    recipe has neither command nor model."""
    if recipe.command:
        return list(recipe.command)
    if not recipe.model:
        return None
    argv = ["vllm", "serve", "{model}", "--served-model-name", "{served_model_name}"]
    argv += ["--host", "{host}", "--port", "{port}"]
    if recipe.revision:
        argv += ["--revision", _escape_braces(recipe.revision)]
    # vllm_args are literal: braces in them (JSON such as --speculative-config) are escaped
    # so that the engine's placeholder substitution leaves them alone.
    return argv + [_escape_braces(arg) for arg in recipe.vllm_args]


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


PLACEHOLDERS = ("port", "host", "name", "served_model_name", "model", "python")
"""What ``recipe.command`` may contain in braces; ``{{`` and ``}}`` are literal braces."""


class _Strict(dict[str, str]):
    """A format_map mapping that refuses placeholders it does not know."""

    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def render_command(recipe: Recipe, *, host: str, port: int) -> list[str]:
    """:func:`process_command` with ``{port} {host} {name} {served_model_name} {model}
    {python}`` substituted in each argument; raises RenderError naming the recipe and the bad
    argument (the catalog renders every command once when it loads, so a bad placeholder is
    a configuration error, not a failed wake)."""
    command = process_command(recipe)
    if not command:
        raise RenderError(
            f"{recipe.name}: the recipe has no command to run and no model for vllm serve "
            "(process engine)"
        )
    values = _Strict(
        port=str(port),
        host=host,
        name=recipe.name,
        served_model_name=recipe.served_model_name,
        python=sys.executable,
    )
    if recipe.model is not None:
        values["model"] = recipe.model
    argv = []
    for arg in command:
        try:
            argv.append(arg.format_map(values))
        except KeyError as exc:
            key = str(exc.args[0])
            if key == "model":
                why = "uses {model} but the recipe sets no model"
            else:
                known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
                why = f"uses unknown placeholder {{{key}}} (known: {known})"
            raise RenderError(f"{recipe.name}: command argument {arg!r} {why}") from exc
        except (ValueError, AttributeError, IndexError, TypeError) as exc:
            raise RenderError(
                f"{recipe.name}: command argument {arg!r} is not a valid template ({exc}); "
                "write {{ and }} for literal braces"
            ) from exc
    return argv


# --- Kubernetes objects -----------------------------------------------------------------------


def render_deployment(recipe: Recipe, *, namespace: str | None = None) -> JSON:
    """The recipe's Deployment at 0 replicas, with the recipe hash annotated."""
    if not recipe.image:
        raise RenderError(f"recipe {recipe.name}: set image (the kubernetes engine runs it)")
    deployment = _deployment_without_hash(recipe)
    digest = spec_hash(deployment)
    deployment["metadata"]["annotations"] = {HASH_ANNOTATION: digest}
    deployment["spec"]["template"]["metadata"]["annotations"] = {HASH_ANNOTATION: digest}
    if namespace is not None:
        deployment["metadata"]["namespace"] = namespace
    return deployment


def recipe_hash(recipe: Recipe) -> str:
    """The hash ``render_deployment`` annotates: what a running pod is compared with."""
    return spec_hash(_deployment_without_hash(recipe))


def spec_hash(deployment: JSON) -> str:
    """SHA-256 (hex) of the canonical JSON of the Deployment's spec and labels."""
    canonical = {
        "labels": deployment["metadata"].get("labels", {}),
        "spec": {key: value for key, value in deployment["spec"].items() if key != "replicas"},
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _deployment_without_hash(recipe: Recipe) -> JSON:
    assert recipe.image is not None
    labels = {**selector_labels(recipe), MANAGED_LABEL: MANAGED_VALUE}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": object_name(recipe), "labels": dict(labels)},
        "spec": {
            "replicas": 0,
            "revisionHistoryLimit": 2,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(recipe)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": _pod_spec(recipe),
            },
        },
    }


def _pod_spec(recipe: Recipe) -> JSON:
    port = container_port(recipe)
    mounts: list[JSON] = []
    volumes: list[JSON] = []
    env = dict(recipe.env)
    if recipe.hf_cache:
        mounts.append({"name": "hf-cache", "mountPath": HF_CACHE_MOUNT})
        volumes.append(
            {"name": "hf-cache", "hostPath": {"path": recipe.hf_cache, "type": "DirectoryOrCreate"}}
        )
        env.setdefault("HF_HOME", HF_CACHE_MOUNT)
    mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": recipe.shm_size}})
    container: JSON = {
        "name": CONTAINER,
        "image": recipe.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["vllm", "serve"],
        "args": vllm_args(recipe, host="0.0.0.0", port=str(port)),
        "env": [{"name": key, "value": env[key]} for key in sorted(env)],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "resources": _resources(recipe),
        "startupProbe": _probe(
            port,
            period=STARTUP_PERIOD,
            # The kubelet must not restart a server that is still loading within the budget.
            failures=max(1, math.ceil(recipe.wake_budget / STARTUP_PERIOD)) + 1,
        ),
        "readinessProbe": _probe(port, period=READINESS_PERIOD, failures=3),
        "volumeMounts": mounts,
        # The log tail becomes the termination message: a crash's reason reaches the daemon.
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    spec: JSON = {
        "containers": [container],
        "volumes": volumes,
        "enableServiceLinks": False,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": TERMINATION_GRACE,
    }
    if recipe.runtime_class:
        spec["runtimeClassName"] = recipe.runtime_class
    return spec


def _resources(recipe: Recipe) -> JSON:
    count = recipe.gpu.count
    if count <= 0:
        return {}
    gpus = {"nvidia.com/gpu": str(count)}
    return {"limits": dict(gpus), "requests": dict(gpus)}


def _probe(port: int, *, period: int, failures: int) -> JSON:
    return {
        "httpGet": {"path": "/health", "port": port, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "successThreshold": 1,
        "failureThreshold": failures,
    }


def render_service(recipe: Recipe, *, namespace: str | None = None) -> JSON:
    """The recipe's ClusterIP Service, its address pinned when ``service.cluster_ip`` is set."""
    spec: JSON = {
        "type": "ClusterIP",
        "selector": selector_labels(recipe),
        "ports": [
            {
                "name": "http",
                "port": recipe.service.port,
                "targetPort": container_port(recipe),
                "protocol": "TCP",
            }
        ],
    }
    if recipe.service.cluster_ip:
        spec["clusterIP"] = recipe.service.cluster_ip
    metadata: JSON = {
        "name": object_name(recipe),
        "labels": {**selector_labels(recipe), MANAGED_LABEL: MANAGED_VALUE},
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


# --- Helm values ------------------------------------------------------------------------------


def helm_values(recipe: Recipe) -> JSON:
    """The ``models`` entry of helm/autosre's values for this recipe (see its values.yaml).

    The chart renders from it exactly the Deployment ``render_deployment`` renders (a test
    holds them equal), so installing with the chart and letting the daemon create the objects
    give the same result; the chart does not re-hash, it annotates ``recipeHash``.
    """
    deployment = render_deployment(recipe)
    if not recipe.model:
        raise RenderError(f"recipe {recipe.name}: set model (the repository vLLM serves)")
    startup = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    return {
        "name": object_name(recipe),
        "recipe": recipe.name,
        "recipeHash": deployment["metadata"]["annotations"][HASH_ANNOTATION],
        "image": recipe.image,
        "model": recipe.model,
        "servedModelName": recipe.served_model_name,
        "revision": recipe.revision,
        "port": container_port(recipe),
        "args": list(recipe.vllm_args),
        "env": dict(recipe.env),
        "gpus": recipe.gpu.count,
        "hfCache": recipe.hf_cache,
        "shmSize": recipe.shm_size,
        "runtimeClassName": recipe.runtime_class,
        "startupFailureThreshold": startup["failureThreshold"],
        "service": {"clusterIP": recipe.service.cluster_ip, "port": recipe.service.port},
    }


__all__ = [
    "CONTAINER",
    "DIGEST_ANNOTATION",
    "HASH_ANNOTATION",
    "IMAGE_ANNOTATION",
    "JSON",
    "PLACEHOLDERS",
    "RenderError",
    "container_port",
    "helm_values",
    "image_digest",
    "label_selector",
    "object_name",
    "process_command",
    "recipe_hash",
    "render_command",
    "render_deployment",
    "render_service",
    "selector_labels",
    "spec_hash",
    "split_image",
    "vllm_args",
]
