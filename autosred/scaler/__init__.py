"""Scale-to-zero: one owner task per model, the gate every surface leases through."""

from autosred.scaler.gate import Backend, ModelGate, UnknownModel, WaitInfo
from autosred.scaler.state import ModelState, ModelUnavailable, Snapshot

__all__ = [
    "Backend",
    "ModelGate",
    "ModelState",
    "ModelUnavailable",
    "Snapshot",
    "UnknownModel",
    "WaitInfo",
]
