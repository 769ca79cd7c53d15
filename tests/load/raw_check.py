""" "Nothing lost": every envelope id the gateway answered 202 for is on tracking.raw.v1.

The raw log is read from the offsets taken before the load to its end offsets taken
after the last answer; only the envelope id of each value is looked at (a regex, not a
model parse: a ten-minute run writes hundreds of thousands of records).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from kafka import TopicPartition

from hub import topics
from hub.kafka_clients import create_consumer
from hub.settings import Settings

ENVELOPE_ID = re.compile(rb'"envelope_id":\s?"(raw_[0-9a-f]{32})"')


@dataclass(frozen=True)
class RawLogCheck:
    accepted: int  # distinct envelope ids answered 202
    found: int  # of those, how many are on the raw log
    lost: int  # answered 202, not on the raw log
    duplicates: int  # records of ours beyond the first for the same envelope id
    records_read: int


def raw_log_ends(settings: Settings) -> dict[TopicPartition, int]:
    consumer = create_consumer(settings, group_id=None, purpose="load-ends")
    try:
        partitions = consumer.partitions_for_topic(topics.RAW) or set()
        return consumer.end_offsets([TopicPartition(topics.RAW, p) for p in partitions])
    finally:
        consumer.close()


def check_raw_log(
    settings: Settings, start: dict[TopicPartition, int], accepted: list[str]
) -> RawLogCheck:
    """Read the raw log from ``start`` to its current end; match against ``accepted``."""
    wanted = set(accepted)
    seen: Counter[str] = Counter()
    consumer = create_consumer(settings, group_id=None, purpose="load-check")
    read = 0
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        end = consumer.end_offsets(list(start))
        while any(consumer.position(tp) < end[tp] for tp in start):
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                for record in records:
                    if record.offset >= end[tp]:
                        continue
                    read += 1
                    found = ENVELOPE_ID.search(record.value)
                    if found and found.group(1).decode() in wanted:
                        seen[found.group(1).decode()] += 1
    finally:
        consumer.close()
    return RawLogCheck(
        accepted=len(wanted),
        found=len(seen),
        lost=len(wanted - set(seen)),
        duplicates=sum(count - 1 for count in seen.values()),
        records_read=read,
    )
