"""Every Prometheus metric the hub's processes export, declared in one place.

``docs/metrics.md`` is the catalogue SREs read; ``tests/unit/test_metrics_catalogue.py``
fails when a metric here and its row there differ in name, type, labels or help, or when
a metric is declared here but recorded nowhere.

Conventions (Prometheus): ``trackhub_`` prefix, base units (seconds, bytes), ``_total``
counters (prometheus-client adds the suffix to the name given), and label values drawn
from small fixed sets: a source name from the settings, an enum value, a partition
number. Never a tracking number, shipment id, seller id, subscription id or URL: those
are unbounded and personal.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

from schemas.alerts import Alert, AlertState, AlertType

# Latency buckets from 1 ms (a 202 on an idle gateway) to 60 s (a worker catching up).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Event received -> state updated: seconds when healthy, hours after an outage.
PROCESSING_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)

# --- gateway ------------------------------------------------------------------------------

WEBHOOKS_RECEIVED = Counter(
    "trackhub_webhooks_received",
    "Webhook requests answered by the gateway, by source and outcome.",
    ["source", "outcome"],
)
SIGNATURE_FAILURES = Counter(
    "trackhub_webhook_signature_failures",
    "Webhooks refused with 401, by source and why the signature failed.",
    ["source", "reason"],
)
WEBHOOK_BYTES = Counter(
    "trackhub_webhook_received_bytes",
    "Body bytes of the webhooks the gateway read, by source.",
    ["source"],
)
WEBHOOKS_IN_FLIGHT = Gauge(
    "trackhub_webhooks_in_flight",
    "Webhooks the gateway is working on now (reading, verifying, waiting for Kafka); at "
    "TRACKHUB_GATEWAY_MAX_IN_FLIGHT new ones are refused with 503 overloaded.",
)
DURABLE_SECONDS = Histogram(
    "trackhub_webhook_durable_seconds",
    "Time from a webhook's arrival to its durable 202 (raw record acknowledged by Kafka).",
    ["source"],
    buckets=LATENCY_BUCKETS,
)
SOURCE_LAST_ACCEPTED = Gauge(
    "trackhub_source_last_accepted_timestamp_seconds",
    "Unix time of the last payload accepted from each source, pushed (webhook) or polled "
    "(0 before the first).",
    ["source"],
)

# --- pollers (trackhub poll) --------------------------------------------------------------

POLLS = Counter(
    "trackhub_polls",
    "Polling cycles of sources without webhooks, by source and outcome.",
    ["source", "outcome"],
)
POLLED_PAGES = Counter(
    "trackhub_polled_pages",
    "Pages fetched from polled sources (those with items are written to the raw log), by source.",
    ["source"],
)

# --- normalizer ---------------------------------------------------------------------------

EVENTS_NORMALIZED = Counter(
    "trackhub_events_normalized",
    "Tracking events written to tracking.events.v1 by the normalizer, by source.",
    ["source"],
)
DEAD_LETTERS = Counter(
    "trackhub_dead_letters",
    "Records written to tracking.dlq.v1, by source, stage and error type.",
    ["source", "stage", "reason"],
)

# --- hub ----------------------------------------------------------------------------------

PROCESSING_SECONDS = Histogram(
    "trackhub_processing_latency_seconds",
    "Time from an event's receipt by the hub (received_at) to its shipment state update.",
    buckets=PROCESSING_BUCKETS,
)
ALERTS_EMITTED = Counter(
    "trackhub_alerts_emitted",
    "Alert transitions published to alerts.v1, by alert type and state.",
    ["type", "state"],
)
ALERTS_OPEN = Gauge(
    "trackhub_alerts_open",
    "Alerts currently open or updated on this worker's shipments, by alert type.",
    ["type"],
)
ABSENCE_HELD_BACK = Gauge(
    "trackhub_absence_alerts_held_back",
    "1 while wall time does not advance this worker's absence deadlines (stalls, delays): "
    "from its start or a rebalance until its backlog is measured, and from a backlog over "
    "TRACKHUB_HUB_MAX_LAG until that backlog is processed; else 0.",
)

# --- every worker -------------------------------------------------------------------------

CONSUMER_LAG = Gauge(
    "trackhub_consumer_lag_messages",
    "Messages on a partition this worker owns not yet committed by its group "
    "(log end offset minus committed offset).",
    ["group", "topic", "partition"],
)
OLDEST_UNCOMMITTED_AGE = Gauge(
    "trackhub_consumer_oldest_uncommitted_age_seconds",
    "How long the oldest uncommitted message of a partition this worker owns has been "
    "waiting (0 when everything is committed); sampled, so accurate to the sample interval.",
    ["group", "topic", "partition"],
)
STATE_STORE_BYTES = Gauge(
    "trackhub_state_store_bytes",
    "On-disk size of this worker's table stores, by table.",
    ["table"],
)


# --- outbound delivery (trackhub deliver) -------------------------------------------------

# Alert published -> delivered: under a second when healthy, up to the retry schedule's
# last pause (10 hours) and beyond for an endpoint that was down.
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000, 172800)

WEBHOOK_DELIVERIES = Counter(
    "trackhub_webhook_deliveries",
    "Outbound webhook delivery attempts to sellers' subscriptions, by outcome.",
    ["outcome"],
)
WEBHOOK_DELIVERY_LATENCY = Histogram(
    "trackhub_webhook_delivery_latency_seconds",
    "Time from an alert's publication on alerts.v1 to its successful delivery to a "
    "subscription, retries included.",
    buckets=DELIVERY_BUCKETS,
)
WEBHOOK_DELIVERIES_PENDING = Gauge(
    "trackhub_webhook_deliveries_pending",
    "Alert deliveries waiting in the durable queue: due, retrying, or behind an earlier "
    "state of the same shipment.",
)
WEBHOOK_RETRIES_PENDING = Gauge(
    "trackhub_webhook_retries_pending",
    "Pending alert deliveries that failed at least once and wait for their next attempt.",
)
SUBSCRIPTIONS_DISABLED = Counter(
    "trackhub_subscriptions_disabled",
    "Subscriptions the delivery process disabled, by reason.",
    ["reason"],
)
WEBHOOK_DELIVERIES_DROPPED = Counter(
    "trackhub_webhook_delivery_dropped",
    "Alert deliveries abandoned without a success, by reason.",
    ["reason"],
)

# --- seller API (trackhub api) ------------------------------------------------------------

API_REQUESTS = Counter(
    "trackhub_api_requests",
    "Seller API requests answered, by operation and status class.",
    ["operation", "status"],
)
API_REQUEST_SECONDS = Histogram(
    "trackhub_api_request_seconds",
    "Time to answer a seller API request (to the first byte for the alert stream), by operation.",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
API_SSE_CONNECTIONS = Gauge(
    "trackhub_api_sse_connections",
    "Open Server-Sent Events streams of sellers' alerts on this API process.",
)
API_READ_MODEL_BEHIND = Gauge(
    "trackhub_api_read_model_behind_records",
    "Records of the projected topics this API process has not yet applied to its read "
    "model (sampled after each poll).",
)


def bounded_source(name: str, known: Collection[str]) -> str:
    """A source label: the configured name, or ``other`` for anything else (a record on
    the raw log written by a producer we do not know must not add a series per name)."""
    return name if name in known else "other"


def count_alert_transitions(alerts: Iterable[Alert]) -> None:
    """Emitted transitions, and the open gauge moved by openings and resolutions (a
    worker sets it absolutely from its tables after each rebalance: ``set_open_alerts``)."""
    for alert in alerts:
        ALERTS_EMITTED.labels(alert.type, alert.state).inc()
        if alert.state is AlertState.OPEN:
            ALERTS_OPEN.labels(alert.type).inc()
        elif alert.state is AlertState.RESOLVED:
            ALERTS_OPEN.labels(alert.type).dec()


def set_open_alerts(counts: Mapping[str, int]) -> None:
    for alert_type in AlertType:
        ALERTS_OPEN.labels(alert_type).set(counts.get(alert_type, 0))
