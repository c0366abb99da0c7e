"""Helpers for the fake cluster's tests: the official client, bodies, waiting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config, watch

T = TypeVar("T")
JSON = dict[str, Any]
NS = "default"


class Kube:
    """The official client configured from the fake's kubeconfig (not the global default),
    called off the event loop: the fake serves on the loop the test runs on."""

    def __init__(self, kubeconfig: Path) -> None:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration
        )
        self.api_client = client.ApiClient(configuration)
        self.apps = client.AppsV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # Any, not the client's types: its models make every field Optional, and the tests
        # assert on the values rather than narrowing each one.
        return await asyncio.to_thread(fn, *args, **kwargs)

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    async def pod_events(
        self,
        *,
        label_selector: str,
        until: Callable[[str, Any], bool],
        timeout: float = 15.0,
        **kwargs: Any,
    ) -> list[tuple[str, Any]]:
        """Watch pods (Watch().stream over list_namespaced_pod) until ``until(type, pod)``;
        returns the (type, V1Pod) events seen."""

        def run() -> list[tuple[str, Any]]:
            seen: list[tuple[str, Any]] = []
            stream: Any = watch.Watch()  # type: ignore[no-untyped-call]
            deadline = time.monotonic() + timeout
            for event in stream.stream(
                self.core.list_namespaced_pod, NS, label_selector=label_selector,
                timeout_seconds=int(timeout), **kwargs,
            ):  # fmt: skip
                seen.append((event["type"], event["object"]))
                if until(event["type"], event["object"]) or time.monotonic() > deadline:
                    stream.stop()
                    break
            return seen

        return await asyncio.to_thread(run)


def deployment(
    name: str,
    *,
    replicas: int = 0,
    image: str = "vllm/vllm-openai:v0.24.0",
    args: list[str] | None = None,
    gpus: int = 1,
    strategy: str = "Recreate",
    extra_labels: dict[str, str] | None = None,
) -> JSON:
    labels = {"app": name, **(extra_labels or {})}
    container: JSON = {
        "name": "vllm",
        "image": image,
        "args": args
        if args is not None
        else ["--served-model-name", f"{name}-served", "--port", "8000"],
        "ports": [{"containerPort": 8000, "name": "http"}],
    }
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": strategy},
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"autosred.io/recipe-hash": "h1"}},
                "spec": {"containers": [container]},
            },
        },
    }


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def ready(event_type: str, pod: Any) -> bool:
    """``until`` for :meth:`Kube.pod_events`: the pod is Ready."""
    return event_type != "DELETED" and is_ready(pod)


def deleted(event_type: str, pod: Any) -> bool:
    return event_type == "DELETED"


def status_body(exc: Any) -> JSON:
    """The Status object of an ApiException."""
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    return dict(body)


async def eventually(check: Callable[[], T | None], timeout: float = 10.0, step: float = 0.05) -> T:
    """Poll ``check`` (sync, on the loop) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)
