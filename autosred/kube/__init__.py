"""The only code that talks to the Kubernetes API: KubeClient (client.py) and its parts."""

from autosred.kube.calls import JSON, RetryPolicy
from autosred.kube.client import KubeClient
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
from autosred.kube.watches import Listing, WatchEvent

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
