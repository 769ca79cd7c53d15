"""The hub's consumer never drops a record it fetched while faust's active set changed.

faust passes its live set of active partitions to the consumer thread and filters the
fetched records against the same set afterwards; ``GuardedConsumer._getmany`` fetches
with a copy and seeks a partition back when faust would drop its records. The consumer
thread here is a stand-in that changes the live set during the fetch, as a table
recovery does; the real race is reproduced on a broker by
``tests/fault/test_rebalance_faults.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faust.types import TP

from hub import topics
from hub.app import GuardedConsumer, create_app, records_to_rewind
from hub.settings import Settings

INBOX = TP(topics.SHIPMENTS_INBOX, 0)
RAW = TP(topics.RAW, 1)
CHANGELOG = TP(topics.changelog_topic(topics.TABLE_SHIPMENTS), 0)


@dataclass(frozen=True)
class Record:
    offset: int


def batch(*offsets: int) -> list[Record]:
    return [Record(o) for o in offsets]


@dataclass
class ConsumerThread:
    """Stands in for faust's aiokafka consumer thread: returns ``records`` for the
    partitions it was asked for, and runs ``during_fetch`` while the fetch is "in
    flight" (the event loop is free then)."""

    records: dict[TP, list[Record]]
    during_fetch: Any = None
    asked: list[set[TP]] = field(default_factory=list)
    sought: list[Mapping[TP, int]] = field(default_factory=list)

    async def getmany(self, active: set[TP], timeout: float) -> dict[TP, list[Record]]:
        if self.during_fetch is not None:
            self.during_fetch()
        self.asked.append(set(active))
        return {tp: rs for tp, rs in self.records.items() if not active or tp in active}

    async def seek_wait(self, offsets: Mapping[TP, int]) -> None:
        self.sought.append(dict(offsets))


def consumer_with(tmp_path: Path, thread: ConsumerThread, active: set[TP]) -> GuardedConsumer:
    consumer = create_app(Settings(state_dir=tmp_path)).consumer
    assert isinstance(consumer, GuardedConsumer)
    consumer._thread = thread  # type: ignore[assignment]
    consumer._active_partitions = set(active)
    consumer.assignment = lambda: {INBOX, RAW, CHANGELOG}  # type: ignore[method-assign]
    # faust's own test reads app.tables, whose start-up this unit test does not run
    changelogs = {topics.changelog_topic(table) for table in topics.TABLES}
    consumer._is_changelog_tp = lambda tp: tp.topic in changelogs  # type: ignore[method-assign]
    return consumer


def test_rewind_offsets_are_the_first_fetched_record_of_each_dropped_partition() -> None:
    records = {INBOX: batch(7, 8, 9), RAW: batch(3), CHANGELOG: []}
    assert records_to_rewind(records, lambda tp: tp == RAW) == {INBOX: 7}
    assert records_to_rewind(records, lambda tp: True) == {}


async def test_a_set_emptied_during_the_fetch_does_not_fetch_every_partition(
    tmp_path: Path,
) -> None:
    thread = ConsumerThread(records={INBOX: batch(0, 1), CHANGELOG: batch(40)})
    consumer = consumer_with(tmp_path, thread, {CHANGELOG})
    thread.during_fetch = lambda: consumer._active_partitions.clear()  # recovery ends

    records = await consumer._getmany(consumer._get_active_partitions(), 1.0)

    assert thread.asked == [{CHANGELOG}]  # faust's own set would have been empty: "all"
    assert INBOX not in records  # so the paused input's records were never taken
    # a changelog is faust's own business (its recovery seeks it): left as fetched
    assert records == {CHANGELOG: batch(40)} and thread.sought == []


async def test_records_of_a_partition_paused_during_the_fetch_are_sought_back(
    tmp_path: Path,
) -> None:
    thread = ConsumerThread(records={INBOX: batch(5, 6), RAW: batch(2)})
    consumer = consumer_with(tmp_path, thread, {INBOX, RAW})
    thread.during_fetch = lambda: consumer._active_partitions.discard(INBOX)

    records = await consumer._getmany(consumer._get_active_partitions(), 1.0)

    assert records == {RAW: batch(2)}
    assert thread.sought == [{INBOX: 5}]


async def test_buffered_partitions_keep_their_records_and_nothing_is_sought(
    tmp_path: Path,
) -> None:
    thread = ConsumerThread(records={INBOX: batch(5), RAW: batch(2)})
    consumer = consumer_with(tmp_path, thread, {INBOX, RAW})

    def buffer_full() -> None:  # faust's on_buffer_full: inactive, but still read
        consumer._active_partitions.discard(INBOX)
        consumer._buffered_partitions.add(INBOX)

    thread.during_fetch = buffer_full
    records = await consumer._getmany(consumer._get_active_partitions(), 1.0)

    assert records == {INBOX: batch(5), RAW: batch(2)}
    assert thread.sought == []


async def test_a_partition_revoked_during_the_fetch_is_not_sought(tmp_path: Path) -> None:
    thread = ConsumerThread(records={INBOX: batch(5)})
    consumer = consumer_with(tmp_path, thread, {INBOX})
    thread.during_fetch = lambda: consumer._active_partitions.discard(INBOX)
    consumer.assignment = lambda: set()  # type: ignore[method-assign]

    assert await consumer._getmany(consumer._get_active_partitions(), 1.0) == {}
    assert thread.sought == []
