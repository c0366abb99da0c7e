"""GPU readings through NVML: free memory, utilisation, temperature, power.

A host without an NVIDIA GPU or driver is a normal state, not an error: ``read_gpus`` then
returns an empty list and ``GpuReader.available`` is False, with the reason kept for display.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GpuReading:
    index: int
    name: str
    memory_total_bytes: int
    memory_free_bytes: int
    utilization_percent: int | None
    temperature_celsius: int | None
    power_watts: float | None


@dataclass(frozen=True)
class GpuProcess:
    """A process holding GPU memory (NVML's compute processes), by its host pid."""

    index: int
    pid: int
    memory_bytes: int


class GpuReader:
    """Initialises NVML once (lazily) and reads every device on demand.

    NVML calls block briefly in the driver, so callers in the event loop should run
    ``read`` in a thread (``asyncio.to_thread``); the lock makes that safe.
    """

    def __init__(self, *, log: logging.Logger) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._nvml: Any = None
        self.unavailable_reason: str | None = None
        self._read_failure: str | None = None

    @property
    def available(self) -> bool:
        return self._init()

    def _init(self) -> bool:
        if self._nvml is not None:
            return True
        if self.unavailable_reason is not None:
            return False
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as exc:
            # No library, no driver, no device: the daemon runs GPU-less (demo, CI, static).
            self.unavailable_reason = str(exc) or type(exc).__name__
            self._log.info("gpu.unavailable", extra={"fields": {"reason": self.unavailable_reason}})
            return False
        self._nvml = pynvml
        return True

    def read(self) -> list[GpuReading]:
        with self._lock:
            if not self._init():
                return []
            nvml = self._nvml
            readings = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                readings.append(
                    GpuReading(
                        index=index,
                        name=_text(nvml.nvmlDeviceGetName(handle)),
                        memory_total_bytes=int(memory.total),
                        memory_free_bytes=int(memory.free),
                        utilization_percent=_optional(
                            lambda h=handle: int(nvml.nvmlDeviceGetUtilizationRates(h).gpu)
                        ),
                        temperature_celsius=_optional(
                            lambda h=handle: int(
                                nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)
                            )
                        ),
                        power_watts=_optional(
                            lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0
                        ),
                    )
                )
            return readings

    def read_all(self) -> tuple[list[GpuReading], list[GpuProcess]]:
        """``read`` and ``read_processes`` for a view that must go on without them: a reading
        that fails (a GPU fallen off the bus) is none, logged once per reason."""
        try:
            result = self.read(), self.read_processes()
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            if reason != self._read_failure:
                self._read_failure = reason
                self._log.warning("gpu.read_failed", extra={"fields": {"reason": reason}})
            return [], []
        self._read_failure = None
        return result

    def read_processes(self) -> list[GpuProcess]:
        """The processes holding memory on each GPU (empty without NVML; a board or driver
        that cannot list them lists none)."""
        with self._lock:
            if not self._init():
                return []
            nvml = self._nvml
            found = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                running = _optional(lambda h=handle: nvml.nvmlDeviceGetComputeRunningProcesses(h))
                for process in running or []:
                    used = getattr(process, "usedGpuMemory", None)
                    if isinstance(used, int):  # None: NVML cannot tell (no permission, MIG)
                        found.append(
                            GpuProcess(index=index, pid=int(process.pid), memory_bytes=used)
                        )
            return found

    def close(self) -> None:
        with self._lock:
            if self._nvml is not None:
                try:
                    self._nvml.nvmlShutdown()
                finally:
                    self._nvml = None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _optional(read: Any) -> Any:
    """Some boards do not report every sensor (NVML_ERROR_NOT_SUPPORTED): None, not a failure."""
    try:
        return read()
    except Exception:
        return None
