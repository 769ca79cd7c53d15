"""Scorecards from a small history: on-time %, breaches and durations per party and lane."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.cli import main
from hub.offline import run_offline
from hub.scorecard import build_scorecards
from tests.factories import make_plan, native_event

NOW = datetime(2026, 3, 25, tzinfo=UTC)


EVENTS = [
    native_event(
        "2026-03-01T10:00:00+08:00", "picked_up", "hawb:SZX1234567", "fwd-sz", "forwarder"
    ),
    native_event(
        "2026-03-02T18:00:00+08:00", "departed_origin", "hawb:SZX1234567", "fwd-sz", "forwarder"
    ),
    native_event(
        "2026-03-03T01:00:00+08:00",
        "line_haul_departed",
        "mawb:176-12345675",
        "fwd-sz",
        "forwarder",
    ),
    native_event(
        "2026-03-03T09:00:00-08:00", "line_haul_arrived", "mawb:176-12345675", "fwd-sz", "forwarder"
    ),
    native_event(
        "2026-03-03T12:00:00-08:00",
        "import_customs_submitted",
        "customs_entry:ABC-1234567-8",
        "broker-lax",
        "customs_broker",
    ),
    native_event(
        "2026-03-09T15:00:00-08:00",
        "import_customs_released",
        "customs_entry:ABC-1234567-8",
        "broker-lax",
        "customs_broker",
    ),
    native_event(
        "2026-03-11T09:00:00-08:00",
        "carrier_received",
        "tracking_number:9400111899223100001234",
        "usps",
        "last_mile_carrier",
    ),
]


def test_scorecards_per_party_and_lane() -> None:
    result = run_offline([make_plan()], EVENTS, now=NOW)
    cards = {c.party_id: c for c in build_scorecards(result.engine.states.values())}
    assert set(cards) == {"fwd-sz", "broker-lax", "usps"}
    forwarder, broker, carrier = cards["fwd-sz"], cards["broker-lax"], cards["usps"]
    assert forwarder.lane == "CN-US" and len(forwarder.shipments) == 1
    assert (forwarder.legs_judged, forwarder.legs_on_time, forwarder.on_time_pct) == (2, 2, 100.0)
    assert forwarder.breaches == {}
    # first mile 32 h (Mar 1 10:00 -> Mar 2 18:00 +08), line haul 24 h (Mar 2 17:00Z -> Mar 3 17:00Z)
    assert sorted(forwarder.durations) == [timedelta(hours=24), timedelta(hours=32)]
    # customs released Mar 9 15:00 after a 2-business-day SLA due Mar 5 12:00: late, 147 h
    assert (broker.legs_judged, broker.legs_on_time) == (1, 0)
    assert broker.breaches == {"handoff_window": 1, "leg_sla": 1}
    assert broker.durations == [timedelta(hours=147)]
    # last mile still open past its 5-day SLA (due Mar 16): judged late already
    assert (carrier.legs_judged, carrier.legs_on_time, carrier.breaches) == (1, 0, {"leg_sla": 1})
    assert carrier.duration_quantile(0.5) is None


def test_scorecard_command_table_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = tmp_path / "plans.json"
    plans.write_text("[" + make_plan().model_dump_json() + "]")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(e.model_dump_json() for e in reversed(EVENTS)) + "\n")
    args = ["scorecard", "--plans", str(plans), "--events", str(events), "--now", NOW.isoformat()]
    assert main([*args, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    broker = next(r for r in rows if r["party_id"] == "broker-lax")
    assert broker["on_time_pct"] == 0.0 and broker["leg_duration_p50_h"] == 147.0
    assert main(args) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["LANE", "PARTY"]
    assert any("100.0% of 2" in line for line in table)


def test_detect_with_a_bad_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = tmp_path / "plans.json"
    plans.write_text('[{"shipment_id": "x"}]')
    events = tmp_path / "events.jsonl"
    events.write_text("")
    assert main(["detect", "--plans", str(plans), "--events", str(events)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trackhub: error:") and "item 0" in err


def _breach_count_from_alerts(alerts) -> dict[tuple[str, str, str], int]:
    counts: dict[tuple[str, str, str], int] = {}
    for alert in alerts:
        if alert.type.value == "responsibility_breach" and alert.party is not None:
            key = (alert.party.role.value, alert.party.id, alert.rule)
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_shares_summed_equal_the_whole_and_breaches_match_the_final_alerts() -> None:
    """Per-shipment shares (what the streaming table keeps, through its JSON value) sum
    to the scorecards of all shipments; breach counts are those of the final alerts,
    resolved ones included, over every journey."""
    from hub.scorecard import cards_from_value, cards_value, merge_cards, shipment_cards
    from tests.support.journeys import load_journeys

    for journey in load_journeys():
        result = run_offline(journey.plans(), journey.events(), now=journey.now())
        states = list(result.engine.states.values())
        whole = [card.row() for card in build_scorecards(states)]
        shares = [
            card
            for state in states
            for card in cards_from_value(cards_value(shipment_cards(state)))
        ]
        assert [card.row() for card in merge_cards(shares)] == whole, journey.name
        from_cards = {
            (c.party_role, c.party_id, rule): n
            for c in build_scorecards(states)
            for rule, n in c.breaches.items()
        }
        assert from_cards == _breach_count_from_alerts(result.alerts), journey.name
