"""The hub's Kafka topics, declared in one place with their partition counts and configs.

This is part of the external contract: names and keys stay stable once released. A new
incompatible payload gets a new ``.vN`` topic, never a silent change of an existing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.settings import Settings

RAW = "tracking.raw.v1"
EVENTS = "tracking.events.v1"
DLQ = "tracking.dlq.v1"
SHIPMENTS = "shipments.v1"
ALERTS = "alerts.v1"
SELLER_ALERTS_PREFIX = "alerts.seller."
SELLERS = "sellers.v1"
API_KEYS = "api-keys.v1"
SUBSCRIPTIONS = "subscriptions.v1"
# internal to the hub's workers
RESOLVE = "hub.resolve.v1"
SHIPMENTS_INBOX = "hub.shipments-inbox.v1"
# the workers' faust app id and tables; each table has a compacted changelog topic
APP_ID = "trackhub"
TABLE_OWNERS = "hub-identifier-owners"
TABLE_PARKED = "hub-parked-events"
TABLE_SHIPMENTS = "hub-shipments"
TABLE_WATERMARKS = "hub-watermarks"
TABLE_SCORECARD_SHARES = "hub-scorecard-shares"
TABLES = (TABLE_OWNERS, TABLE_PARKED, TABLE_SHIPMENTS, TABLE_WATERMARKS, TABLE_SCORECARD_SHARES)


def changelog_topic(table: str) -> str:
    """faust's name for a table's changelog topic."""
    return f"{APP_ID}-{table}-changelog"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What a topic must look like on the broker."""

    name: str
    partitions: int
    replication_factor: int
    key: str  # what the record key is, for the docs and for readers of this file
    value: str  # the schema model carried as the record value
    configs: dict[str, str] = field(default_factory=dict)


def declared_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic the hub needs, with explicit partition counts and configs.

    Tables in the hub are co-partitioned with the topic that feeds them, so the partition
    count of every partitioned topic is the same ``settings.partitions``.
    """
    n = settings.partitions
    rf = settings.replication_factor
    min_isr = str(min(2, rf))
    common = {"min.insync.replicas": min_isr}
    return [
        TopicSpec(
            RAW,
            n,
            rf,
            key="source:reference",
            value="RawEnvelope",
            configs={
                **common,
                "cleanup.policy": "delete",
                "retention.ms": str(settings.raw_retention_ms),
                # Carrier batches can be large; the gateway caps bodies below this.
                "max.message.bytes": str(4 * 1024 * 1024),
                "compression.type": "producer",
            },
        ),
        TopicSpec(
            EVENTS,
            n,
            rf,
            key="primary identifier",
            value="TrackingEvent",
            configs={**common, "cleanup.policy": "delete", "retention.ms": str(30 * 86_400_000)},
        ),
        TopicSpec(
            DLQ,
            n,
            rf,
            key="source:reference",
            value="DeadLetter",
            configs={
                **common,
                "cleanup.policy": "delete",
                "retention.ms": "-1",  # kept until a fixed mapper replays them
                "max.message.bytes": str(5 * 1024 * 1024),
            },
        ),
        TopicSpec(
            SHIPMENTS,
            n,
            rf,
            key="shipment_id",
            value="ShipmentPlan",
            configs={
                **common,
                "cleanup.policy": "compact",
                "min.compaction.lag.ms": "60000",
            },
        ),
        TopicSpec(
            ALERTS,
            n,
            rf,
            key="seller_id",
            value="Alert",
            configs={**common, "cleanup.policy": "delete", "retention.ms": str(30 * 86_400_000)},
        ),
        TopicSpec(
            RESOLVE,
            n,
            rf,
            key="identifier key",
            value="ResolveMessage (hub internal)",
            configs={**common, "cleanup.policy": "delete", "retention.ms": str(7 * 86_400_000)},
        ),
        TopicSpec(
            SHIPMENTS_INBOX,
            n,
            rf,
            key="shipment_id",
            value="InboxMessage (hub internal)",
            configs={**common, "cleanup.policy": "delete", "retention.ms": str(7 * 86_400_000)},
        ),
        *(
            TopicSpec(
                name,
                1,  # a few thousand small records, read whole by every API/delivery process
                rf,
                key=key,
                value=value,
                configs={**common, "cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
            )
            for name, key, value in (
                (SELLERS, "seller_id", "Seller"),
                (API_KEYS, "key_id", "ApiKey"),
                (SUBSCRIPTIONS, "subscription_id", "Subscription"),
            )
        ),
        # Created here, before any worker starts, rather than by faust at start-up: a
        # worker whose consumer has not yet seen a changelog topic's metadata crashes its
        # agent on the first table write (faust PartitionsMismatch, "0 partitions").
        *(
            TopicSpec(
                changelog_topic(table),
                n,
                rf,
                key="table key",
                value=f"{table} table value (hub internal)",
                configs={**common, "cleanup.policy": "compact"},
            )
            for table in TABLES
        ),
    ]


def seller_alerts_topic(seller_id: str) -> str:
    """The per-seller fan-out topic (created on first use, one partition)."""
    return f"{SELLER_ALERTS_PREFIX}{seller_id}"


def topic_names(settings: Settings) -> list[str]:
    return [spec.name for spec in declared_topics(settings)]
