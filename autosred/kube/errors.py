"""The errors of the Kubernetes facade: nothing from the ``kubernetes`` package leaks past kube/.

Each carries a message fit for a user (it names the object and what the API server said) and,
when the API server answered, its HTTP ``status``.
"""

from __future__ import annotations


class KubeError(Exception):
    """Any failure talking to the Kubernetes API."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class KubeConfigError(KubeError):
    """No usable credentials: the kubeconfig is missing or unreadable and we are not in a pod."""


class KubeUnavailable(KubeError):
    """The API server cannot be reached, or kept failing (5xx, 429) after retries."""


class KubeNotFound(KubeError):
    """404: the object (or its namespace) does not exist."""


class KubeConflict(KubeError):
    """409: the object already exists, or changed under a write."""


class KubeForbidden(KubeError):
    """401/403: the credentials may not do this (see helm/autosre's Role for what is needed)."""


class KubeInvalid(KubeError):
    """400/422: the API server rejected the object as invalid."""


class KubeGone(KubeError):
    """410: a watch's resourceVersion is too old; list again and watch from the new one."""


__all__ = [
    "KubeConfigError",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeGone",
    "KubeInvalid",
    "KubeNotFound",
    "KubeUnavailable",
]
