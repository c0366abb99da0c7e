"""The model servers' series on the daemon's own ``/metrics``, each with a ``model`` label.

A custom collector: it holds nothing of its own and yields, when the registry is scraped, the
families of the newest readings (the scrape handler refreshes them first, with the reader's
short timeout). The series keep the server's names, types and labels; ``model`` names the
recipe (a ``model`` label of the server's own becomes ``exported_model``, as Prometheus does
with a target's labels). One family per name across models, as the text format requires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import Metric
from prometheus_client.registry import Collector


class ServerSeries(Collector):
    def __init__(self, families: Callable[[], Mapping[str, list[Metric]]]) -> None:
        self._families = families

    def describe(self) -> Iterable[Metric]:
        # Names vary with what the servers export: none are claimed at registration.
        return ()

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for model, families in sorted(self._families().items()):
            for family in families:
                target = merged.get(family.name)
                if target is None:
                    target = Metric(family.name, family.documentation, family.type, family.unit)
                    merged[family.name] = target
                elif target.type != family.type:
                    continue  # two server versions disagree: the first model's type stands
                for sample in family.samples:
                    labels = dict(sample.labels)
                    if "model" in labels:
                        labels["exported_model"] = labels.pop("model")
                    labels["model"] = model
                    target.add_sample(sample.name, labels, sample.value)
        return merged.values()
