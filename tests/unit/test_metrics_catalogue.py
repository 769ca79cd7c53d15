"""docs/metrics.md and hub/metrics.py say the same thing, and every metric is recorded."""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from hub import metrics
from hub.settings import PROJECT_ROOT

CATALOGUE = PROJECT_ROOT / "docs" / "metrics.md"
TYPE_NAMES = {Counter: "counter", Gauge: "gauge", Histogram: "histogram"}
CODE_DIRS = ("hub", "connectors")


def _declared() -> dict[str, tuple[str, MetricWrapperBase]]:
    """Python name -> (exported name, metric) of every metric in hub/metrics.py."""
    found = {}
    for name, value in vars(metrics).items():
        if isinstance(value, MetricWrapperBase):
            exported = value._name + ("_total" if isinstance(value, Counter) else "")
            found[name] = (exported, value)
    return found


def _catalogue() -> dict[str, tuple[str, tuple[str, ...], str]]:
    """exported name -> (type, labels, help) from the catalogue's first table."""
    rows = {}
    for line in CATALOGUE.read_text().splitlines():
        match = re.match(
            r"^\| `(trackhub_\w+)` \| (\w+) \|\s*([\w, ]*?)\s*\| [^|]+ \| (.+) \|$", line
        )
        if match:
            name, kind, labels, help_text = match.groups()
            label_names = tuple(x.strip() for x in labels.split(",") if x.strip())
            rows[name] = (kind, label_names, help_text.strip())
    return rows


def test_catalogue_lists_exactly_the_declared_metrics() -> None:
    declared = {exported for exported, _ in _declared().values()}
    assert declared == set(_catalogue())


def test_each_metric_has_the_type_labels_and_help_the_catalogue_gives() -> None:
    catalogue = _catalogue()
    for exported, metric in _declared().values():
        kind, labels, help_text = catalogue[exported]
        assert TYPE_NAMES[type(metric)] == kind, exported
        assert tuple(metric._labelnames) == labels, exported
        assert metric._documentation == help_text, exported


def test_names_follow_the_conventions() -> None:
    for exported, metric in _declared().values():
        assert exported.startswith("trackhub_")
        if isinstance(metric, Counter):
            assert exported.endswith("_total")
        if isinstance(metric, Histogram):
            assert exported.endswith("_seconds")  # base unit
        for label in metric._labelnames:
            # unbounded values must never become labels
            assert label not in {"shipment_id", "seller_id", "tracking_number", "identifier"}


def test_every_declared_metric_is_recorded_somewhere() -> None:
    sources = [
        path.read_text()
        for directory in CODE_DIRS
        for path in (PROJECT_ROOT / directory).rglob("*.py")
        if path != PROJECT_ROOT / "hub" / "metrics.py"
    ]
    metrics_module = (PROJECT_ROOT / "hub" / "metrics.py").read_text()
    for python_name in _declared():
        pattern = re.compile(rf"\bmetrics\.{python_name}\b|\b{python_name}\.(labels|inc|dec|set)")
        used = any(pattern.search(text) for text in sources)
        # helpers in hub/metrics.py itself (count_alert_transitions, set_open_alerts) count
        # only when the helper is called from the code
        in_helper = re.search(rf"^\s+{python_name}\.", metrics_module, re.M)
        assert used or in_helper, f"{python_name} is declared but never recorded"
