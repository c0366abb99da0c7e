"""Where the Kubernetes credentials come from: a kubeconfig file, else the pod's service account."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autosred.kube.errors import KubeConfigError


def load_configuration(kubeconfig: Path | None, *, environ: Mapping[str, str] | None = None) -> Any:
    """A ``kubernetes.client.Configuration`` from ``kubeconfig`` when that file exists, else
    in-cluster; raises KubeConfigError naming what was tried (nothing global is touched)."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    env = os.environ if environ is None else environ
    configuration = k8s.Configuration()
    tried: list[str] = []
    if kubeconfig is not None:
        if kubeconfig.is_file():
            try:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(kubeconfig),
                    client_configuration=configuration,
                    persist_config=False,
                )
            except Exception as exc:
                raise KubeConfigError(f"engine.kubeconfig: {kubeconfig}: {exc}") from exc
            return _tuned(configuration)
        tried.append(f"no kubeconfig at {kubeconfig}")
    if env.get("KUBERNETES_SERVICE_HOST"):
        try:
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except Exception as exc:
            raise KubeConfigError(f"in-cluster Kubernetes credentials: {exc}") from exc
        return _tuned(configuration)
    tried.append("not running in a pod (KUBERNETES_SERVICE_HOST is unset)")
    raise KubeConfigError(
        "no Kubernetes credentials: " + "; ".join(tried) + " (set engine.kubeconfig; on a k3s "
        "node the file is /etc/rancher/k3s/k3s.yaml and must be readable by the daemon's user)"
    )


def _tuned(configuration: Any) -> Any:
    # Retries are ours (kube/calls.py: backoff and Retry-After): urllib3's own would retry a
    # refused connection three times at once and hide how long the API server has been gone.
    configuration.retries = False
    return configuration


__all__ = ["load_configuration"]
