"""Reading ``/metrics`` in tests: the exposition text parsed into samples."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from metrics.views import scrape_registry

TOKEN = "metrics-test-token-0123456789"


class Samples(dict):
    """``{(sample name, frozenset(labels)): value}``; a series not exported reads 0."""

    def value(self, name: str, **labels: str) -> float:
        return self.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self}

    def series(self, name: str) -> dict[frozenset, float]:
        return {labels: value for (sample, labels), value in self.items() if sample == name}


def parse(text: str) -> Samples:
    samples = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape() -> Samples:
    """What a scrape of this machine's processes shows now (the view's registry)."""
    return parse(generate_latest(scrape_registry()).decode())
