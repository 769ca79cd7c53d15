"""deploy/grafana/trackhub.json is a loadable dashboard over metrics that exist.

Its queries are also run against a live Prometheus in tests/integration/test_ops_live.py
(every one must parse and evaluate)."""

from __future__ import annotations

import json
import re

from hub.settings import PROJECT_ROOT
from tests.unit.test_metrics_catalogue import _catalogue

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "trackhub.json"
SECTIONS = ("Ingest", "Processing", "Lag", "Alerts", "Resources")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def test_the_dashboard_has_what_grafana_needs() -> None:
    board = dashboard()
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        assert key in board, key
    variables = {v["name"] for v in board["templating"]["list"]}
    assert "datasource" in variables
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_panels_fit_the_grid_without_overlapping() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))


def test_every_section_is_there_and_every_panel_queries_something() -> None:
    panels = dashboard()["panels"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    for section in SECTIONS:
        assert any(title.startswith(section) for title in rows), section
    for panel in panels:
        if panel["type"] != "row":
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
            assert panel["datasource"]["uid"] == "${datasource}"


def test_queries_use_only_catalogued_metrics() -> None:
    catalogue = _catalogue()
    known = set(catalogue)
    for name, (kind, _, _) in catalogue.items():
        if kind == "histogram":
            known |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    for query in dashboard_queries():
        for metric in re.findall(r"\btrackhub_\w+", query):
            assert metric in known, f"{metric} in {query!r} is not in docs/metrics.md"
