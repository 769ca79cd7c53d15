"""A worker's unprocessed backlog: its agents' progress against the log ends it knows."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.worker_ops import InputProgress, PartitionBacklog, partition_backlog, worker_backlog


def unprocessed(log_end: int | None, sent_end: int | None, positions: tuple) -> int | None:
    return partition_backlog(log_end, sent_end, positions).unprocessed


def test_unprocessed_counts_from_the_furthest_known_position_to_the_latest_end() -> None:
    assert unprocessed(100, None, (60, 40)) == 40  # the agent is ahead of the commit
    assert unprocessed(100, None, (None, 40)) == 60  # nothing processed since assigned
    assert unprocessed(100, None, (None, None)) == 100  # nothing committed either
    assert unprocessed(100, 103, (100, 90)) == 3  # own sends the last fetch did not see
    assert unprocessed(100, 90, (95, None)) == 5
    assert unprocessed(100, None, (104, None)) == 0  # the log end fetched before a read
    assert unprocessed(None, 103, (100, None)) is None  # not fetched yet: unknown
    assert partition_backlog(100, 103, (100, 90)) == PartitionBacklog(end=103, position=100)


def test_progress_keeps_processed_offsets_and_acknowledged_sends() -> None:
    now = [10.0]
    progress = InputProgress(monotonic=lambda: now[0])
    progress.processed("events", 2, 41)
    progress.processed("events", 2, 42)
    assert progress.next_offset == {("events", 2): 43}
    assert progress.oldest_send() is None
    first = progress.sending()
    now[0] = 11.0
    second, third = progress.sending(), progress.sending()
    assert progress.in_flight == 3 and progress.oldest_send() == 10.0
    progress.sent(second, "inbox", 1, 7)
    progress.sent(first, "inbox", 1, 5)  # acknowledged out of order: the end stays
    assert progress.oldest_send() == 11.0
    progress.send_failed(third)
    assert progress.in_flight == 0 and progress.oldest_send() is None
    assert progress.sent_end == {("inbox", 1): 8}


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int


@dataclass
class _Consumer:
    """The part of faust's consumer the backlog reads."""

    ends: dict[_TP, int | None]
    _committed_offset: dict[_TP, int] = field(default_factory=dict)

    def assignment(self) -> set[_TP]:
        return set(self.ends)

    def highwater(self, tp: _TP) -> int | None:
        return self.ends[tp]


@dataclass
class _App:
    consumer: _Consumer


def test_worker_backlog_covers_the_assigned_partitions_of_the_given_topics() -> None:
    events, inbox, changelog = _TP("events", 0), _TP("inbox", 1), _TP("changelog", 0)
    fresh = _TP("events", 1)
    consumer = _Consumer(
        ends={events: 6002, inbox: 10, changelog: 500, fresh: None},
        _committed_offset={events: 1000, inbox: 10},
    )
    progress = InputProgress()
    progress.processed("events", 0, 5949)  # 52 left, whatever faust has buffered
    progress.sent(progress.sending(), "inbox", 1, 10)  # the last report's hop, not fetched back yet
    backlog = worker_backlog(_App(consumer), frozenset({"events", "inbox"}), progress)
    assert {tp: b.unprocessed for tp, b in backlog.items()} == {events: 52, inbox: 1, fresh: None}
    assert backlog[inbox] == PartitionBacklog(end=11, position=10)
