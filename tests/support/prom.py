"""Read figures out of a /metrics page (Prometheus text format), for tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample_value(page: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels``; 0.0 if absent
    (a counter not yet incremented has no sample)."""
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return 0.0


def sample_names(page: str) -> set[str]:
    return {
        sample.name for family in text_string_to_metric_families(page) for sample in family.samples
    }
