"""A fake `pynvml` for the daemon under test: the one OS-edge fake the suite uses.

NVML talks to the NVIDIA driver; machines running the tests have none. Tests put this
directory first on the daemon's PYTHONPATH and describe the GPUs in the JSON file named by
AUTOSRED_FAKE_NVML, re-read on every call so a test can free memory while the daemon runs:
{"devices": [{"name": "NVIDIA H100", "total_gib": 80, "free_gib": 10,
              "util": 3, "temp": 35, "power_w": 70.5,
              "processes": [{"pid": 4242, "used_gib": 70}]}]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

NVML_TEMPERATURE_GPU = 0
_GIB = 1024**3


class NVMLError(Exception):
    pass


def _devices() -> list[dict[str, Any]]:
    path = os.environ.get("AUTOSRED_FAKE_NVML")
    if not path:
        raise NVMLError("NVML Shared Library Not Found (fake: AUTOSRED_FAKE_NVML unset)")
    with open(path, encoding="utf-8") as file:
        devices = json.load(file)["devices"]
    assert isinstance(devices, list)
    return devices


@dataclass(frozen=True)
class _Memory:
    total: int
    free: int
    used: int


@dataclass(frozen=True)
class _Utilization:
    gpu: int
    memory: int


def nvmlInit() -> None:
    _devices()


def nvmlShutdown() -> None:
    pass


def nvmlDeviceGetCount() -> int:
    return len(_devices())


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    return index


def nvmlDeviceGetName(handle: int) -> str:
    return str(_devices()[handle].get("name", "Fake GPU"))


def nvmlDeviceGetMemoryInfo(handle: int) -> _Memory:
    device = _devices()[handle]
    total = int(device["total_gib"] * _GIB)
    free = int(device["free_gib"] * _GIB)
    return _Memory(total=total, free=free, used=total - free)


def nvmlDeviceGetUtilizationRates(handle: int) -> _Utilization:
    return _Utilization(gpu=int(_devices()[handle].get("util", 0)), memory=0)


def nvmlDeviceGetTemperature(handle: int, sensor: int) -> int:
    return int(_devices()[handle].get("temp", 30))


def nvmlDeviceGetPowerUsage(handle: int) -> int:
    return int(float(_devices()[handle].get("power_w", 50.0)) * 1000)


@dataclass(frozen=True)
class _Process:
    pid: int
    usedGpuMemory: int | None


def nvmlDeviceGetComputeRunningProcesses(handle: int) -> list[_Process]:
    return [
        _Process(pid=int(p["pid"]), usedGpuMemory=int(p["used_gib"] * _GIB))
        for p in _devices()[handle].get("processes", [])
    ]
