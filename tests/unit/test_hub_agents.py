"""The streaming hub's pure steps: resolve hops and parking, the inbox step, the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub import shipment_runner, topics
from hub.hub_agents import (
    CATCH_UP_STEPS,
    PartitionClock,
    StoredRecord,
    inbox_step,
    load_stored,
    safe_topic_part,
    stored_summary,
)
from hub.hub_messages import InboxMessage, ResolveMessage
from hub.resolve_step import MAX_PARKED_PER_IDENTIFIER, Parked, oldest_parked
from hub.resolve_step import resolve_outputs as resolve_step
from hub.worker_ops import PartitionBacklog
from schemas.events import DeadLetter, TrackingEvent
from tests.factories import event_data, make_plan

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def _event(*identifiers: tuple[str, str], at: datetime = T0) -> TrackingEvent:
    return TrackingEvent.model_validate(
        event_data(
            identifiers=[{"kind": k, "value": v} for k, v in identifiers],
            occurred_at=at.isoformat(),
        )
    )


WALL = datetime(2026, 11, 25, tzinfo=UTC)


def resolve_outputs(message, owners, parked):
    """The step with a fixed wall clock, parked events given as a list or a ``Parked``."""
    if isinstance(parked, list):
        parked = Parked(parked)
    owners, after, sends = resolve_step(message, owners, parked, now=WALL)
    return owners, after.events, sends


def _decoded(sends):
    return [(topic, key.decode(), value) for topic, key, value in sends]


def test_known_identifier_goes_to_every_owner() -> None:
    event = _event(("order_id", "SO-1"))
    message = ResolveMessage(kind="event", identifier="order_id:SO-1", event=event)
    owners, parked, sends = resolve_outputs(message, ["SHP-A", "SHP-B"], [])
    assert owners == ["SHP-A", "SHP-B"] and parked == []
    assert [(t, k) for t, k, _ in _decoded(sends)] == [
        (topics.SHIPMENTS_INBOX, "SHP-A"),
        (topics.SHIPMENTS_INBOX, "SHP-B"),
    ]


def test_an_event_routed_by_a_mawb_is_kept_for_a_plan_sharing_it_later() -> None:
    """Delivered to the MAWB's owners and kept there, already claimed: a third shipment
    registering on the MAWB gets it replayed, and its expiry dead-letters nothing."""
    event = _event(("mawb", "176-12345675"))
    message = ResolveMessage(kind="event", identifier="mawb:176-12345675", event=event)
    owners, kept, sends = resolve_step(message, ["SHP-A", "SHP-B"], Parked(), now=WALL)
    assert [k for _, k, _ in _decoded(sends)] == ["SHP-A", "SHP-B"]
    assert kept.events == [event] and kept.claimed == {event.event_id}
    _, kept_again, _ = resolve_step(message, owners, kept, now=WALL)
    assert kept_again.events == [event]  # a redelivery is kept once
    owners, kept, sends = resolve_step(_claim("mawb:176-12345675", "SHP-C"), owners, kept, now=WALL)
    (replay,) = [InboxMessage.model_validate_json(v) for _, k, v in sends if k == b"SHP-C"]
    assert replay.event == event and replay.replayed and owners == ["SHP-A", "SHP-B", "SHP-C"]
    expire = ResolveMessage(
        kind="expire", identifier="mawb:176-12345675", until=T0 + timedelta(days=1)
    )
    _, left, sends = resolve_step(expire, owners, kept, now=WALL)
    assert left.events == [] and sends == []


def test_a_parcel_scan_naming_its_mawb_does_not_fall_back_to_the_mawb() -> None:
    """Parcel X's scan is about X: unknown X parks it (not under the MAWB), whoever owns
    the MAWB; the hop skips the consolidating identifier to a specific one after it."""
    scan = _event(("tracking_number", "9400X"), ("mawb", "176-12345675"))
    first = ResolveMessage(kind="event", identifier="tracking_number:9400X", event=scan)
    _, _, sends = resolve_outputs(first, [], [])
    parks = [ResolveMessage.model_validate_json(v) for _, _, v in sends]
    assert [(p.kind, p.identifier) for p in parks] == [("park", "tracking_number:9400X")]
    via_order = _event(("tracking_number", "9400X"), ("mawb", "176-12345675"), ("order_id", "O1"))
    first = first.model_copy(update={"event": via_order})
    _, _, sends = resolve_outputs(first, [], [])
    (hop,) = [ResolveMessage.model_validate_json(v) for _, _, v in sends]
    assert (hop.kind, hop.identifier, hop.position) == ("event", "order_id:O1", 2)
    claim = _claim("mawb:176-12345675", "SHP-A")
    _, _, sends = resolve_outputs(claim, [], [scan])
    assert [t for t, _, _ in sends if t == topics.SHIPMENTS_INBOX] == []


def test_unknown_identifier_hops_to_the_next_then_parks_under_all() -> None:
    event = _event(("tracking_number", "9400X"), ("order_id", "SO-1"))
    first = ResolveMessage(kind="event", identifier="tracking_number:9400X", event=event)
    _, _, sends = resolve_outputs(first, [], [])
    ((topic, key, value),) = _decoded(sends)
    hop = ResolveMessage.model_validate_json(value)
    assert (topic, key, hop.position) == (topics.RESOLVE, "order_id:SO-1", 1)
    _, _, sends = resolve_outputs(hop, [], [])
    parks = [ResolveMessage.model_validate_json(v) for _, _, v in sends]
    assert {(p.kind, p.identifier) for p in parks} == {
        ("park", "tracking_number:9400X"),
        ("park", "order_id:SO-1"),
    }


def test_park_keeps_one_copy_unless_an_owner_appeared_meanwhile() -> None:
    event = _event(("order_id", "SO-1"))
    park = ResolveMessage(kind="park", identifier="order_id:SO-1", event=event)
    _, parked, sends = resolve_outputs(park, [], [])
    _, parked, _ = resolve_outputs(park, [], parked)
    assert [e.event_id for e in parked] == [event.event_id] and sends == []
    _, still, sends = resolve_outputs(park, ["SHP-A"], [])
    assert still == [] and [k for _, k, _ in _decoded(sends)] == ["SHP-A"]


def test_claim_releases_parked_events_in_event_order_as_replayed() -> None:
    later = _event(("order_id", "SO-1"), at=T0 + timedelta(hours=2))
    earlier = _event(("order_id", "SO-1"), at=T0)
    other = _event(("hawb", "H1"), ("order_id", "SO-1"))  # the plan has H1: claimed there
    claim = ResolveMessage(
        kind="claim",
        identifier="order_id:SO-1",
        shipment_id="SHP-A",
        plan_keys=["order_id:SO-1", "hawb:H1"],
    )
    owners, parked, sends = resolve_outputs(claim, [], [later, earlier, other])
    assert owners == ["SHP-A"]
    released = [InboxMessage.model_validate_json(v) for _, _, v in sends]
    assert [m.event.occurred_at for m in released] == [T0, T0 + timedelta(hours=2)]
    assert all(m.replayed for m in released)
    # all stay parked: another plan sharing the identifier may claim them too
    assert {e.event_id for e in parked} == {later.event_id, earlier.event_id, other.event_id}


def _claim(identifier: str, shipment_id: str, *plan_keys: str) -> ResolveMessage:
    return ResolveMessage(
        kind="claim",
        identifier=identifier,
        shipment_id=shipment_id,
        plan_keys=[identifier, *plan_keys],
    )


def _letters(sends) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(v) for t, _, v in sends if t == topics.DLQ]


def test_expiry_dead_letters_a_never_claimed_event_once_from_its_home_identifier() -> None:
    event = _event(("tracking_number", "9400X"), ("order_id", "SO-1"))
    other = _event(("order_id", "SO-1"), at=T0 + timedelta(days=20))
    expire_home = ResolveMessage(
        kind="expire", identifier="tracking_number:9400X", until=T0 + timedelta(days=1)
    )
    _, left, sends = resolve_step(expire_home, [], Parked([event]), now=WALL)
    assert left.events == []
    (letter,) = _letters(sends)
    assert letter.stage == "resolve" and letter.event == event and letter.failed_at == WALL
    assert "tracking_number:9400X" in letter.reason and "time to live" in letter.reason
    assert letter.raw.body == event.model_dump_json().encode()
    # the same event parked under its other identifier leaves silently; a newer one stays
    expire_other = expire_home.model_copy(update={"identifier": "order_id:SO-1"})
    _, left, sends = resolve_step(expire_other, [], Parked([event, other]), now=WALL)
    assert left.events == [other] and sends == []


def test_an_event_claimed_at_another_identifier_is_not_dead_lettered() -> None:
    event = _event(("tracking_number", "9400X"), ("order_id", "SO-1"))
    _, _, sends = resolve_step(_claim("order_id:SO-1", "SHP-A"), [], Parked([event]), now=WALL)
    notes = [ResolveMessage.model_validate_json(v) for t, _, v in sends if t == topics.RESOLVE]
    assert [(n.kind, n.identifier, n.event_id) for n in notes] == [
        ("claimed", "tracking_number:9400X", event.event_id)
    ]
    _, home, _ = resolve_step(notes[0], [], Parked([event]), now=WALL)
    assert home.claimed == {event.event_id}
    expire = ResolveMessage(kind="expire", identifier="tracking_number:9400X", until=T0)
    _, left, sends = resolve_step(expire, [], home, now=WALL)
    assert left == Parked() and sends == []


def test_an_event_claimed_at_home_is_not_dead_lettered() -> None:
    event = _event(("order_id", "SO-1"))
    _, home, sends = resolve_step(_claim("order_id:SO-1", "SHP-A"), [], Parked([event]), now=WALL)
    assert home.claimed == {event.event_id} and not _letters(sends)
    expire = ResolveMessage(kind="expire", identifier="order_id:SO-1", until=T0)
    assert resolve_step(expire, ["SHP-A"], home, now=WALL)[2] == []


def test_a_park_forwarded_to_a_new_owner_tells_the_home_identifier() -> None:
    event = _event(("tracking_number", "9400X"), ("order_id", "SO-1"))
    park = ResolveMessage(kind="park", identifier="order_id:SO-1", event=event)
    _, _, sends = resolve_step(park, ["SHP-A"], Parked(), now=WALL)
    assert [(t, k) for t, k, _ in _decoded(sends)] == [
        (topics.SHIPMENTS_INBOX, "SHP-A"),
        (topics.RESOLVE, "tracking_number:9400X"),
    ]


def test_the_count_bound_dead_letters_the_oldest_never_claimed_events() -> None:
    events = [
        _event(("order_id", "SO-1"), at=T0 + timedelta(minutes=n))
        for n in range(MAX_PARKED_PER_IDENTIFIER + 1)
    ]
    parked = Parked(events[:-1], claimed={events[1].event_id})
    park = ResolveMessage(kind="park", identifier="order_id:SO-1", event=events[-1])
    _, after, sends = resolve_step(park, [], parked, now=WALL)
    assert len(after.events) == MAX_PARKED_PER_IDENTIFIER and after.events[-1] == events[-1]
    assert [letter.event for letter in _letters(sends)] == [events[0]]
    assert "pushed out" in _letters(sends)[0].reason


def test_parked_value_round_trip_reads_the_first_format_too() -> None:
    event = _event(("order_id", "SO-1"))
    parked = Parked([event], {event.event_id})
    assert Parked.loads(parked.dumps()) == parked
    assert oldest_parked(parked.dumps()) == T0
    legacy = b"[" + event.model_dump_json().encode() + b"]"
    assert Parked.loads(legacy) == Parked([event]) and oldest_parked(legacy) == T0


def test_new_shipment_is_held_for_its_grace_then_advanced() -> None:
    plan = make_plan()
    message = InboxMessage(kind="plan", plan=plan)
    stored, alerts = inbox_step(None, message, 2, T0, wall_now=100.0, plan_grace_s=3.0)
    assert stored is not None and stored.hold_until == 103.0 and alerts == []
    assert stored.record.state.clock is None
    tick = InboxMessage(kind="tick", until=T0)
    held, _ = inbox_step(stored, tick, 2, T0, wall_now=101.0, plan_grace_s=3.0)
    assert held is not None and held.record.state.clock is None
    ready, _ = inbox_step(stored, tick, 2, T0, wall_now=104.0, plan_grace_s=3.0)
    assert ready is not None and ready.hold_until is None
    assert ready.record.state.clock == T0


def test_stored_record_round_trip_keeps_partition_due_and_hold() -> None:
    stored, _ = inbox_step(
        None, InboxMessage(kind="plan", plan=make_plan()), 3, None, wall_now=5.0, plan_grace_s=1
    )
    assert stored is not None
    raw = stored.dumps(shipment_runner.next_due(stored.record))
    again = load_stored(raw)
    assert isinstance(again, StoredRecord) and again.record == stored.record
    partition, due, hold, alert_types = stored_summary(raw)
    assert (partition, hold, alert_types) == (3, 6.0, [])
    assert due == make_plan().registered_at


def _clock(wall: list[datetime], mono: list[float]) -> PartitionClock:
    """A clock whose wall and monotonic times the test moves (10 min lateness, 30 s idle)."""
    return PartitionClock(
        lateness=timedelta(minutes=10),
        idle_after_s=30,
        wall_clock=lambda: wall[0],
        monotonic=lambda: mono[0],
    )


def _backlog(*counts: int | None, at: int = 0) -> dict[int, PartitionBacklog]:
    """Partitions 0.. with ``counts`` unprocessed records each, their agents at ``at``."""
    return {
        n: PartitionBacklog(None if count is None else at + count, at)
        for n, count in enumerate(counts)
    }


def test_partition_clock_watermark_explicit_idle_and_held_back() -> None:
    wall = [datetime(2026, 11, 25, tzinfo=UTC)]
    mono = [0.0]
    clock = _clock(wall, mono)
    clock.note_backlog(_backlog(0, 0), oldest_send=None, max_lag=50)  # caught up at 0 s
    assert clock.watermark(0) is None  # nothing seen, not idle long enough
    assert clock.saw(0, T0) is True
    assert clock.saw(0, T0 - timedelta(hours=1)) is False  # older: the mark stays
    assert clock.watermark(0) == T0 - timedelta(minutes=10)
    clock.explicit[0] = T0 + timedelta(days=1)
    assert clock.watermark(0) == T0 + timedelta(days=1)
    mono[0] = 31.0  # idle: wall time takes over, unless the hub itself is behind
    assert clock.watermark(0) == wall[0] - timedelta(minutes=10)
    clock.note_backlog(_backlog(51, 0), oldest_send=None, max_lag=50)
    assert clock.held_back and clock.watermark(0) == T0 + timedelta(days=1)
    clock.schedule(0, "SHP-B", T0 + timedelta(hours=2))
    clock.schedule(0, "SHP-A", T0 + timedelta(hours=1))
    clock.schedule(0, "SHP-A", T0 + timedelta(hours=1))
    assert clock.pop_due(0, T0 + timedelta(hours=1)) == ["SHP-A"]
    assert clock.pop_due(0, T0 + timedelta(hours=3)) == ["SHP-B"]
    clock.hold(1, "SHP-C", 10.0)
    assert clock.pop_released(1, 9.0) == [] and clock.pop_released(1, 10.0) == ["SHP-C"]


def test_no_partition_follows_wall_time_before_the_first_complete_backlog_measurement() -> None:
    """Regression: the detect agent read a plan before the first tick had measured the
    backlog, took wall time as its watermark (idle since the worker started) and advanced
    the shipment to it; the backlog's reports then came late and opened a stall at once
    (the held-back lag test, whole file). A rebalance measures again."""
    wall = [datetime(2026, 11, 25, tzinfo=UTC)]
    mono = [100.0]
    clock = _clock(wall, mono)
    assert clock.held_back and clock.watermark(0) is None
    not_fetched = _backlog(0, None)
    clock.note_backlog(not_fetched, oldest_send=None, max_lag=50)
    assert clock.held_back and clock.watermark(0) is None
    clock.note_backlog(_backlog(0, 7), oldest_send=None, max_lag=50)  # complete, under it
    assert not clock.held_back
    mono[0] = 129.0
    assert clock.watermark(0) is None  # idle counts from the measurement
    mono[0] = 130.0
    assert clock.watermark(0) == wall[0] - timedelta(minutes=10)
    clock.measure_again()
    assert clock.held_back and clock.watermark(0) is None


def test_once_behind_wall_time_waits_until_every_input_and_hop_is_worked_off() -> None:
    """Regression: once the backlog fell under the threshold, an idle partition followed
    wall time before the backlog's last records (and their resolve hops) reached their
    shipments. Held back from over the threshold until nothing is left to process on any
    input and no send to one is unacknowledged; idleness counts from then."""
    wall = [datetime(2026, 11, 25, tzinfo=UTC)]
    mono = [100.0]
    clock = _clock(wall, mono)
    clock.saw(0, T0)  # at 100 s
    clock.note_backlog(_backlog(6002, 0, 0), oldest_send=None, max_lag=50)
    for backlog, in_flight in [
        ([40, 0, 0], 0),  # under the threshold, not worked off
        ([0, 3000, 0], 0),  # the events became resolve hops: over it again
        ([0, 0, 1], 0),  # the last report, on its way to the shipment's partition
        ([0, 0, 0], 1),  # a send to an input not acknowledged yet
        ([0, None, 0], 0),  # a partition whose log end is not known
    ]:
        mono[0] += 10
        oldest = mono[0] - 1 if in_flight else None
        clock.note_backlog(_backlog(*backlog), oldest_send=oldest, max_lag=50)
        assert clock.held_back, (backlog, in_flight)
        assert clock.watermark(0) == T0 - timedelta(minutes=10), (backlog, in_flight)
    mono[0] = 160.0
    clock.note_backlog(_backlog(0, 0, 0), oldest_send=None, max_lag=50)  # worked off at 160 s
    assert not clock.held_back
    mono[0] = 189.0  # idle 89 s since its last event, 29 s since caught up
    assert clock.watermark(0) == T0 - timedelta(minutes=10)
    mono[0] = 190.0
    assert clock.watermark(0) == wall[0] - timedelta(minutes=10)
    clock.note_backlog(_backlog(12, 0, 0), oldest_send=mono[0], max_lag=50)  # everyday traffic
    assert clock.watermark(0) == wall[0] - timedelta(minutes=10)


def test_after_a_backlog_steady_traffic_catches_up_without_ever_being_empty() -> None:
    """Traffic that never leaves the inputs empty (a few records and a send always in
    flight) must not hold absence alerts back for ever after an outage: the worker
    catches up after CATCH_UP_STEPS measurements in a row, each past the previous one's
    ends with no older send unacknowledged; one that is not starts the count again."""
    wall = [datetime(2026, 11, 25, tzinfo=UTC)]
    mono = [100.0]
    clock = _clock(wall, mono)
    clock.note_backlog(_backlog(6002, 0, 0), oldest_send=None, max_lag=50)
    at = 6000

    def measure(*counts: int, oldest_send: float | None) -> None:
        mono[0] += 1
        clock.note_backlog(_backlog(*counts, at=at), oldest_send=oldest_send, max_lag=50)

    measure(12, 3, 1, oldest_send=mono[0] + 0.5)  # first under the threshold: ends noted
    for _ in range(CATCH_UP_STEPS - 1):  # each time past the ends noted before
        at += 20
        measure(12, 3, 1, oldest_send=mono[0] + 0.5)
        assert clock.held_back
    measure(12, 3, 1, oldest_send=mono[0] - 1.5)  # a send from before the last one, unacked
    assert clock.held_back
    for step in range(CATCH_UP_STEPS):  # counted again from there
        assert clock.held_back, step
        at += 20
        measure(12, 3, 1, oldest_send=mono[0] + 0.5)
    assert not clock.held_back


def test_a_worker_slower_than_its_traffic_stays_held_back() -> None:
    """Under the threshold but never past the previous measurement's ends: the backlog's
    last records may still be ahead of it."""
    clock = _clock([datetime(2026, 11, 25, tzinfo=UTC)], [100.0])
    clock.note_backlog(_backlog(6002, 0, 0), oldest_send=None, max_lag=50)
    for n in range(3 * CATCH_UP_STEPS):
        clock.note_backlog(_backlog(30, 0, 0, at=n * 10), oldest_send=None, max_lag=50)
        assert clock.held_back, n


def test_a_backlog_under_the_threshold_never_holds_wall_time_back() -> None:
    """TRACKHUB_HUB_MAX_LAG out of reach: the worker follows wall time with its backlog
    (the not-held-back lag case shows the false stall that setting prevents)."""
    clock = _clock([datetime(2026, 11, 25, tzinfo=UTC)], [100.0])
    clock.note_backlog(_backlog(6002, 0, 0), oldest_send=99.0, max_lag=10**9)
    assert not clock.held_back


def test_seller_topic_names_are_legal() -> None:
    assert safe_topic_part("seller-42") == "seller-42"
    assert safe_topic_part("amazon:EU/1") == "amazon_EU_1"
