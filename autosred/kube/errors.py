"""The errors of the Kubernetes facade, and the translation of the official client's failures
into them: nothing from the ``kubernetes`` package leaks past kube/.

Each carries a message fit for a user (it names the object and what the API server said) and,
when the API server answered, its HTTP ``status``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import urllib3


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


def translate(exc: BaseException, what: str, server: str) -> KubeError:
    """Any failure of the official client as one of our errors; ``what`` names the object."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        status = exc.status
        message = _api_message(exc.body) or exc.reason or "no reason given"
        if not status:
            return KubeUnavailable(
                f"{what}: cannot reach the Kubernetes API at {server}: {message}"
            )
        return by_status(status, f"{what}: {message}")
    if isinstance(exc, json.JSONDecodeError):
        return KubeError(f"{what}: the Kubernetes API answered something that is not JSON")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        reason = _network_reason(exc)
        return KubeUnavailable(f"{what}: cannot reach the Kubernetes API at {server}: {reason}")
    # The client refused the request itself (e.g. a body its model does not accept).
    return KubeError(f"{what}: {type(exc).__name__}: {exc}")


def by_status(status: int, message: str) -> KubeError:
    """The error for an HTTP status the API server answered."""
    if status == 404:
        return KubeNotFound(message, status=status)
    if status == 409:
        return KubeConflict(message, status=status)
    if status in (401, 403):
        return KubeForbidden(message, status=status)
    if status in (400, 422):
        return KubeInvalid(message, status=status)
    if status == 410:
        return KubeGone(message, status=status)
    if status == 429 or status >= 500:
        return KubeUnavailable(message, status=status)
    return KubeError(message, status=status)


def status_error(status: Mapping[str, Any], what: str) -> KubeError:
    """A watch's ERROR event carries a Status object."""
    code = status.get("code")
    message = f"{what}: {status.get('message') or status.get('reason') or 'error'}"
    return by_status(code if isinstance(code, int) else 500, message)


def _api_message(body: object) -> str | None:
    if not isinstance(body, str | bytes) or not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        return text.strip()[:300] or None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return None


def _network_reason(exc: BaseException) -> str:
    """'connection refused', 'timed out' …: the innermost OS-level reason, as an operator
    would say it."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or type(current).__name__.endswith("TimeoutError"):
            return "timed out"
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno).lower()
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        else:
            current = current.__cause__ or current.__context__
    return str(exc) or type(exc).__name__


__all__ = [
    "KubeConfigError",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeGone",
    "KubeInvalid",
    "KubeNotFound",
    "KubeUnavailable",
    "by_status",
    "status_error",
    "translate",
]
