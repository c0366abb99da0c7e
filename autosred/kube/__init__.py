"""The only code that talks to the Kubernetes API (see client.py for how and why)."""

from autosred.kube.client import JSON, KubeClient, Listing, RetryPolicy, WatchEvent
from autosred.kube.errors import (
    KubeConfigError,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
)

__all__ = [
    "JSON",
    "KubeClient",
    "KubeConfigError",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeGone",
    "KubeInvalid",
    "KubeNotFound",
    "KubeUnavailable",
    "Listing",
    "RetryPolicy",
    "WatchEvent",
]
