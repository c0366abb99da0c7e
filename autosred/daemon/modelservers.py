"""The model servers running now, as the parts that read them need them."""

from __future__ import annotations

from autosred.scaler import ModelGate, ModelState


def running_endpoints(gate: ModelGate) -> dict[str, str]:
    """Model name -> its server's base URL, for the models that are ready now (a model
    starting or stopping has no server worth asking; one at zero has none)."""
    return {
        snapshot.name: snapshot.endpoint
        for snapshot in gate.snapshots()
        if snapshot.state is ModelState.READY and snapshot.endpoint
    }
