"""The fake's knobs: delays, injected failures and API-server outages.

Settings are read at the moment a pod is created and kept with that pod (see
``Cluster.profile``), so a change applies to pods created after it, never to one already on
its way: a test can set ``fail`` and then scale up, and know which pod fails.
``api_down`` and ``gpus`` are the exceptions: they describe the cluster, and apply at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

FAIL_MODES = ("none", "Unschedulable", "ImagePullBackOff", "CrashLoopBackOff", "OOMKilled")
API_DOWN_MODES = ("503", "reset")

UNSCHEDULABLE_MESSAGE = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."

ACTIONS = ("compact",)
"""Control keys that do something once rather than set a value."""


@dataclass(frozen=True)
class Settings:
    pull_delay: float = 0.5
    """Seconds between the kubelet's Pulling and Pulled (or Failed) events."""
    start_delay: float = 1.0
    """The sim's --startup-delay: seconds from Started until /health answers (loading weights)."""
    fail: str = "none"
    """Injected failure for new pods; one of :data:`FAIL_MODES`."""
    schedule_delay: float = 0.05
    """Seconds before the scheduler binds (or refuses) a new pod."""
    probe_interval: float = 0.1
    """The kubelet's readiness probe period, in seconds."""
    backoff: float = 1.0
    """Seconds of back-off between image pull retries and container restarts (a real kubelet
    starts at 10 s and doubles; short here so tests see several restarts)."""
    max_grace: float = 5.0
    """Cap on a pod's terminationGracePeriodSeconds (the sim stops at once on SIGTERM)."""
    gpus: int = 1
    """The node's nvidia.com/gpu capacity. A pod whose requests do not fit next to the pods
    already holding GPUs (terminating ones included) stays Pending as Unschedulable until they
    are gone, as on a one-GPU k3s node."""
    api_down: str | None = None
    """None, "503" (every API request answers 503) or "reset" (connections are reset)."""
    bookmark_interval: float = 5.0
    """Seconds between BOOKMARK events on watches that allow them."""

    def public(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["api_down"] = self.api_down or False
        return values


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{key} must be a number of seconds >= 0, not {value!r}")
    return float(value)


def updated(current: Settings, changes: dict[str, Any]) -> Settings:
    """``current`` with ``changes`` applied; ValueError names the first bad key or value."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if key in ACTIONS:
            continue
        if key not in fields:
            known = ", ".join(sorted(fields | set(ACTIONS)))
            raise ValueError(f"unknown control key {key!r} (known: {known})")
        if key == "fail":
            if value is None:
                value = "none"
            if value not in FAIL_MODES:
                raise ValueError(f"fail must be one of {', '.join(FAIL_MODES)}, not {value!r}")
            values[key] = value
        elif key == "api_down":
            if value is False or value is None:
                values[key] = None
            elif value is True:
                values[key] = "503"
            elif value in API_DOWN_MODES:
                values[key] = value
            else:
                raise ValueError(f"api_down must be true, false, '503' or 'reset', not {value!r}")
        elif key == "gpus":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"gpus must be an integer >= 0, not {value!r}")
            values[key] = value
        else:
            values[key] = _seconds(key, value)
    return dataclasses.replace(current, **values)
