"""Every knob of the hub, read from ``TRACKHUB_*`` environment variables.

One ``Settings`` object is built at the edge (CLI, test fixtures) and passed down; no other
module reads the environment. The README's configuration table lists these fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SourceConfig(BaseModel):
    """One webhook sender: which wire format it speaks and the secrets that sign it.

    Two secrets may be valid at once so a sender can rotate without downtime. A source
    with no secret rejects every request (fail closed).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = Field(description="Connector name, see `trackhub sources`")
    secrets: Annotated[list[SecretStr], Field(max_length=2)] = Field(default_factory=list)


class PollerConfig(BaseModel):
    """A source without webhooks, fetched page by page (see connectors/pollers.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="A configured source name (gives the format)")
    url: str = Field(pattern=r"^https?://", description="The provider's events endpoint")
    interval_s: float = Field(default=300.0, gt=0, description="Pause between polling cycles")
    max_requests_per_s: float = Field(default=1.0, gt=0, le=100)
    page_size: int = Field(default=100, ge=1, le=10_000)
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    cursor_header: str = "Next-Page-Cursor"
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Request headers, e.g. the provider's API key"
    )
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    max_page_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=4 * 1024 * 1024)


WORKER_ROLES = ("normalize", "hub")


class Settings(BaseSettings):
    """Runtime configuration. Field ``foo_bar`` is read from ``TRACKHUB_FOO_BAR``."""

    model_config = SettingsConfigDict(env_prefix="TRACKHUB_", extra="ignore", frozen=True)

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Bootstrap servers of an existing Kafka cluster (host:port,...). "
        "When set, the local broker is never started and this cluster is used as is.",
    )
    state_dir: Path = Field(
        default=Path(".trackhub"),
        description="Folder for everything the hub writes locally: broker data and logs, "
        "the resolved broker jars, state stores. Relative paths are taken from the "
        "current directory.",
    )
    kafka_host: str = Field(default="127.0.0.1", description="Local broker listen address.")
    kafka_port: int = Field(default=9092, ge=1, le=65535, description="Local broker port.")
    kafka_controller_port: int = Field(
        default=9093, ge=1, le=65535, description="Local KRaft controller port."
    )
    kafka_advertised_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port the local broker advertises to clients (default: kafka_port); "
        "the network fault tests aim it at a TCP proxy so every client goes through it.",
    )
    kafka_heap: str = Field(default="512m", description="Local broker JVM heap (-Xms/-Xmx).")
    kafka_deploy_dir: Path = Field(
        default=PROJECT_ROOT / "deploy" / "kafka",
        description="Folder holding the broker's pom.xml, server.properties and log4j2 file.",
    )
    kafka_start_timeout_s: float = Field(
        default=120.0, gt=0, description="How long `kafka up` waits for the broker to answer."
    )
    kafka_stop_timeout_s: float = Field(
        default=30.0, gt=0, description="How long `kafka down` waits before it kills the JVM."
    )
    partitions: int = Field(
        default=4, ge=1, le=1024, description="Partitions of the partitioned topics."
    )
    replication_factor: int = Field(
        default=1, ge=1, le=16, description="Replication factor of every topic (1 locally)."
    )
    raw_retention_ms: int = Field(
        default=90 * 24 * 3600 * 1000,
        ge=-1,
        description="Retention of tracking.raw.v1 (the source of truth for replays); -1 keeps "
        "it forever.",
    )
    client_id: str = Field(default="trackhub", description="Kafka client id prefix.")
    log_level: str = Field(default="INFO", description="Python log level of hub processes.")
    worker_roles: str = Field(
        default="normalize,hub",
        description="What a worker runs: normalize (raw -> events), hub (resolve, state, "
        "detection), or both; comma-separated. Scale each role with its own processes.",
    )
    sources: dict[str, SourceConfig] = Field(
        default_factory=dict,
        description="Webhook senders as JSON: {name: {format, secrets: [..]}}. Every format "
        "is also a source of its own name (without a secret, so closed until configured).",
    )
    sources_file: Path | None = Field(
        default=None,
        description="A JSON file of sources in the same shape, merged over TRACKHUB_SOURCES "
        "(keep secrets there, readable only by the hub).",
    )
    store: str = Field(
        default="rocksdb://",
        description="faust table store: rocksdb:// (on disk, rocksdict) or memory://",
    )
    hub_lateness_s: float = Field(
        default=600.0, ge=0, description="Allowed lateness of events (watermark lag)."
    )
    hub_idle_after_s: float = Field(
        default=30.0,
        ge=0,
        description="A partition idle this long follows wall time (0: only event time and "
        "explicit `trackhub clock` moves).",
    )
    hub_plan_grace_s: float = Field(
        default=3.0,
        ge=0,
        description="Wall seconds a newly registered shipment waits for its parked events "
        "before its first evaluation.",
    )
    hub_parking_ttl_s: float = Field(
        default=14 * 86_400.0,
        gt=0,
        description="How long (event time) an event nobody claims stays parked for a plan "
        "before it goes to the dead-letter topic.",
    )
    hub_parking_sweep_s: float = Field(
        default=60.0, gt=0, description="How often a worker looks for expired parked events."
    )
    hub_tick_interval_s: float = Field(
        default=1.0, gt=0, description="How often a worker checks for passed deadlines."
    )
    hub_cache_shipments: int = Field(
        default=2_000,
        ge=0,
        description="Decoded shipment records a worker keeps in memory (the table stays "
        "the durable copy); each takes about 20-40 KiB.",
    )
    hub_max_lag: int = Field(
        default=1000,
        ge=0,
        description="Above this many unread messages the hub holds back absence alerts "
        "(our own backlog is not a carrier's silence).",
    )
    pollers: list[PollerConfig] = Field(
        default_factory=list,
        description="Sources fetched by polling, as JSON: [{source, url, interval_s, ...}].",
    )
    gateway_host: str = Field(default="127.0.0.1", description="Webhook gateway listen address.")
    gateway_port: int = Field(default=8080, ge=0, le=65535, description="Webhook gateway port.")
    gateway_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=4 * 1024 * 1024,
        description="Largest webhook body accepted (a format may set a smaller limit).",
    )
    gateway_kafka_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a webhook waits for Kafka before a 503."
    )
    gateway_max_in_flight: int = Field(
        default=512,
        ge=1,
        description="Most webhooks the gateway works on at once (reading, verifying, waiting "
        "for Kafka); above it a new one gets 503 overloaded with Retry-After at once.",
    )

    worker_http_host: str = Field(
        default="127.0.0.1",
        description="Where a worker serves /metrics, /healthz and /readyz (0.0.0.0 in a pod).",
    )
    worker_http_port: int = Field(
        default=6066,
        ge=0,
        le=65535,
        description="A worker's /metrics, /healthz and /readyz port (0: any free port; give "
        "each worker on one host its own).",
    )
    poller_http_host: str = Field(
        default="127.0.0.1", description="Where `trackhub poll` serves its ops endpoints."
    )
    poller_http_port: int = Field(
        default=6068, ge=0, le=65535, description="`trackhub poll` ops port (0: any free)."
    )
    metrics_sample_s: float = Field(
        default=5.0,
        gt=0,
        description="How often a worker samples its consumer lag, uncommitted age and store "
        "size, and the delivery process its queue gauges, for /metrics.",
    )
    log_format: str = Field(
        default="text",
        description="Log lines as 'text' (for people) or 'json' (one object per line, for "
        "log pipelines).",
        pattern="^(text|json)$",
    )

    api_host: str = Field(default="127.0.0.1", description="Seller API listen address.")
    api_port: int = Field(default=8081, ge=0, le=65535, description="Seller API port.")
    api_max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Largest request body the seller API reads (a plan with every leg, "
        "many identifiers and handoffs is under 32 KiB).",
    )
    api_rate_per_s: float = Field(
        default=20.0, gt=0, description="Requests per second allowed per API key (sustained)."
    )
    api_rate_burst: int = Field(
        default=100, ge=1, description="Requests an API key may make at once before 429."
    )
    api_sse_heartbeat_s: float = Field(
        default=15.0, gt=0, description="Seconds between SSE heartbeat comments."
    )
    api_db: Path | None = Field(
        default=None,
        description="SQLite file of the API's read model (default <state_dir>/api/read.db); "
        "a cache rebuilt from Kafka when deleted.",
    )
    delivery_http_host: str = Field(
        default="127.0.0.1", description="Delivery process /metrics, /healthz, /readyz address."
    )
    delivery_http_port: int = Field(
        default=6067, ge=0, le=65535, description="Delivery process ops port (0: any free)."
    )
    delivery_db: Path | None = Field(
        default=None,
        description="SQLite file of the durable delivery queue (default "
        "<state_dir>/delivery/queue.db).",
    )
    delivery_retry_schedule_s: list[float] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000],
        min_length=1,
        description="Pause before each retry of a failed webhook delivery (JSON list); a "
        "delivery is given up after the last one.",
    )
    delivery_jitter: float = Field(
        default=0.2, ge=0, le=1, description="Each pause is randomized by +/- this fraction."
    )
    delivery_timeout_s: float = Field(
        default=10.0, gt=0, le=60, description="Total time allowed for one delivery attempt."
    )
    delivery_disable_after_s: float = Field(
        default=5 * 86400,
        gt=0,
        description="A subscription failing without a single success for this long is "
        "disabled (reason shown in the API).",
    )
    delivery_concurrency: int = Field(
        default=64, ge=1, description="Delivery attempts in flight at once, all endpoints."
    )
    delivery_per_endpoint: int = Field(
        default=4,
        ge=1,
        description="Attempts in flight at once per subscription, so a hung endpoint "
        "holds only its own slots.",
    )
    delivery_allow_http: bool = Field(
        default=False,
        description="Development only: accept http:// subscription URLs.",
    )
    delivery_allow_networks: list[str] = Field(
        default_factory=list,
        description="Development only: CIDRs exempt from the SSRF guard (e.g. "
        '["127.0.0.0/8"] for a receiver on this machine).',
    )

    @field_validator("worker_roles")
    @classmethod
    def _known_roles(cls, value: str) -> str:
        roles = {role.strip() for role in value.split(",") if role.strip()}
        unknown = roles - set(WORKER_ROLES)
        if unknown or not roles:
            raise ValueError(
                f"worker roles are a comma-separated subset of {', '.join(WORKER_ROLES)}; "
                f"got {value!r}"
            )
        return ",".join(role for role in WORKER_ROLES if role in roles)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.worker_roles.split(","))

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return upper

    def effective_sources(self) -> dict[str, SourceConfig]:
        """Every configured source: one per format name, then TRACKHUB_SOURCES, then the file."""
        from connectors.registry import connector_names

        merged = {name: SourceConfig(format=name) for name in connector_names()}
        merged.update(self.sources)
        if self.sources_file is not None:
            try:
                data = json.loads(self.sources_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(
                    f"cannot read TRACKHUB_SOURCES_FILE {self.sources_file}: {exc}"
                ) from None
            merged.update({name: SourceConfig.model_validate(v) for name, v in data.items()})
        unknown = {n: c.format for n, c in merged.items() if c.format not in connector_names()}
        if unknown:
            raise ValueError(f"sources with an unknown format: {unknown}")
        return merged

    @property
    def uses_local_broker(self) -> bool:
        """True when the project runs its own broker (no external bootstrap given)."""
        return self.kafka_bootstrap is None

    @property
    def bootstrap_servers(self) -> str:
        """The bootstrap address clients connect to, local or external."""
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def kafka_state_dir(self) -> Path:
        """Where the local broker keeps its jars, data, logs and pid file."""
        return self.state_dir.resolve() / "kafka"
