"""The durable delivery queue: idempotent enqueue, order per shipment, due selection under
the caps, failure streaks, and what survives reopening the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.delivery_store import DeliveryStore, JobStatus, NewJob

T0 = 1_800_000_000.0


def job(sub: str, delivery: str, shipment: str = "SHP-1", seller: str = "s-1") -> NewJob:
    return NewJob(
        subscription_id=sub,
        delivery_id=delivery,
        shipment_id=shipment,
        seller_id=seller,
        payload=f'{{"id": "{delivery}"}}'.encode(),
        published_at=T0 - 1,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeliveryStore]:
    opened = DeliveryStore(tmp_path / "delivery" / "queue.db")
    yield opened
    opened.close()


def ids(jobs: list) -> list[str]:
    return [j.delivery_id for j in jobs]


def test_enqueue_is_idempotent_per_subscription_and_delivery(store: DeliveryStore) -> None:
    assert store.enqueue([job("sub_a", "alt_1.1"), job("sub_b", "alt_1.1")], T0) == 2
    assert store.enqueue([job("sub_a", "alt_1.1"), job("sub_a", "alt_1.2")], T0) == 1
    assert store.counts() == (3, 0)
    assert store.enqueue([], T0) == 0


def test_a_delivered_state_read_again_stays_delivered(store: DeliveryStore) -> None:
    store.enqueue([job("sub_a", "alt_1.1")], T0)
    (head,) = store.due(T0, 10)
    assert store.mark_delivered(head.seq, T0 + 1)
    assert store.enqueue([job("sub_a", "alt_1.1")], T0 + 2) == 0  # alerts.v1 re-read
    assert store.due(T0 + 3, 10) == []
    assert store.status_of("sub_a", "alt_1.1") == (JobStatus.DELIVERED, 1)


def test_only_the_head_of_each_shipment_is_due(store: DeliveryStore) -> None:
    store.enqueue(
        [
            job("sub_a", "alt_1.1", "SHP-1"),
            job("sub_a", "alt_1.2", "SHP-1"),
            job("sub_a", "alt_2.1", "SHP-2"),
            job("sub_b", "alt_1.1", "SHP-1"),
        ],
        T0,
    )
    assert sorted(ids(store.due(T0, 10))) == ["alt_1.1", "alt_1.1", "alt_2.1"]
    first = next(
        j for j in store.due(T0, 10) if j.subscription_id == "sub_a" and j.shipment_id == "SHP-1"
    )
    # a failed head keeps its place: the next state of its shipment waits for it
    assert store.reschedule(first.seq, T0 + 60, "HTTP 500")
    due = store.due(T0 + 1, 10)
    assert ("sub_a", "alt_1.2") not in {(j.subscription_id, j.delivery_id) for j in due}
    assert store.next_due_at(exclude_seqs=[j.seq for j in due]) == T0 + 60
    (retried,) = [j for j in store.due(T0 + 60, 10) if j.seq == first.seq]
    assert retried.attempts == 1
    store.mark_delivered(first.seq, T0 + 61)
    after = store.due(T0 + 61, 10)
    assert ("sub_a", "alt_1.2") in {(j.subscription_id, j.delivery_id) for j in after}


def test_a_given_up_head_releases_the_next_state(store: DeliveryStore) -> None:
    store.enqueue([job("sub_a", "alt_1.1"), job("sub_a", "alt_1.2")], T0)
    (head,) = store.due(T0, 10)
    assert store.mark_failed(head.seq, "HTTP 500", T0)
    assert ids(store.due(T0, 10)) == ["alt_1.2"]
    assert store.status_of("sub_a", "alt_1.1") == (JobStatus.FAILED, 1)


def test_due_order_limit_and_exclusions(store: DeliveryStore) -> None:
    store.enqueue([job("sub_a", f"alt_{i}.1", f"SHP-{i}") for i in range(5)], T0)
    store.enqueue([job("sub_b", "alt_9.1", "SHP-9")], T0 + 1)
    everything = store.due(T0 + 1, 100)
    assert len(everything) == 6 and everything[-1].subscription_id == "sub_b"
    assert len(store.due(T0 + 1, 2)) == 2
    in_flight = [j.seq for j in everything[:2]]
    assert not set(in_flight) & {j.seq for j in store.due(T0 + 1, 100, exclude_seqs=in_flight)}
    # a subscription at its cap does not hide the others' jobs behind its own
    capped = store.due(T0 + 1, 1, exclude_subscriptions=["sub_a"])
    assert [j.subscription_id for j in capped] == ["sub_b"]
    assert store.due(T0 - 1, 100) == []  # nothing due before it was enqueued


def test_dropping_a_subscription(store: DeliveryStore) -> None:
    store.enqueue([job("sub_a", "alt_1.1"), job("sub_a", "alt_2.1", "SHP-2")], T0)
    store.enqueue([job("sub_b", "alt_1.1")], T0)
    store.record_failure("sub_a", "HTTP 500", T0)
    assert sorted(store.pending_subscriptions()) == ["sub_a", "sub_b"]
    assert store.drop_subscription("sub_a", T0 + 5) == 2
    assert store.status_of("sub_a", "alt_2.1") == (JobStatus.DROPPED, 0)
    assert store.failing_since("sub_a") is None  # a re-enabled subscription starts afresh
    assert store.pending_subscriptions() == ["sub_b"]
    assert store.drop_subscription("sub_a", T0 + 6) == 0


def test_finishing_twice_or_after_a_drop_changes_nothing(store: DeliveryStore) -> None:
    store.enqueue([job("sub_a", "alt_1.1")], T0)
    (head,) = store.due(T0, 1)
    store.drop_subscription("sub_a", T0)
    assert not store.mark_delivered(head.seq, T0)
    assert not store.reschedule(head.seq, T0 + 5, "HTTP 500")
    assert store.status_of("sub_a", "alt_1.1") == (JobStatus.DROPPED, 0)


def test_failure_streaks_start_at_the_first_failure_after_a_success(store: DeliveryStore) -> None:
    assert store.failing_since("sub_a") is None
    assert store.record_failure("sub_a", "HTTP 500", T0) == T0
    assert store.record_failure("sub_a", "timeout", T0 + 100) == T0
    store.record_success("sub_a", T0 + 200)
    assert store.failing_since("sub_a") is None
    assert store.record_failure("sub_a", "HTTP 503", T0 + 300) == T0 + 300


def test_counts_and_purge(store: DeliveryStore) -> None:
    store.enqueue([job("sub_a", f"alt_{i}.1", f"SHP-{i}") for i in range(3)], T0)
    first, second, _ = store.due(T0, 10)
    store.reschedule(first.seq, T0 + 5, "HTTP 500")
    store.mark_delivered(second.seq, T0)
    assert store.counts() == (2, 1)
    assert store.purge_finished(T0) == 0
    assert store.purge_finished(T0 + 1) == 1
    # once purged, a re-read of that alert state would be queued again (hence the long
    # retention: as long as alerts.v1 keeps its records)
    assert store.enqueue([job("sub_a", second.delivery_id, second.shipment_id)], T0 + 2) == 1


def test_everything_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    first = DeliveryStore(path)
    first.enqueue([job("sub_a", "alt_1.1"), job("sub_a", "alt_1.2"), job("sub_b", "alt_3.1")], T0)
    (head_a, head_b) = first.due(T0, 10)
    first.reschedule(head_a.seq, T0 + 30, "HTTP 500")
    first.record_failure("sub_a", "HTTP 500", T0)
    first.mark_delivered(head_b.seq, T0)
    first.close()  # or a kill -9: every call above committed before it returned

    again = DeliveryStore(path)
    try:
        assert again.counts() == (2, 1)
        assert again.due(T0 + 1, 10) == []
        (retry,) = again.due(T0 + 30, 10)
        assert (retry.delivery_id, retry.attempts, retry.payload) == (
            "alt_1.1",
            1,
            b'{"id": "alt_1.1"}',
        )
        assert again.failing_since("sub_a") == T0
        assert again.enqueue([job("sub_b", "alt_3.1")], T0 + 40) == 0
    finally:
        again.close()


def test_two_connections_share_the_file(tmp_path: Path) -> None:
    """The ingest thread and the event loop each open their own store on one file."""
    path = tmp_path / "queue.db"
    writer, reader = DeliveryStore(path), DeliveryStore(path)
    try:
        writer.enqueue([job("sub_a", "alt_1.1")], T0)
        assert ids(reader.due(T0, 10)) == ["alt_1.1"]
    finally:
        writer.close()
        reader.close()
