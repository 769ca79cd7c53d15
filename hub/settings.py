"""Every knob of the hub, read from ``TRACKHUB_*`` environment variables.

One ``Settings`` object is built at the edge (CLI, test fixtures) and passed down; no other
module reads the environment. The README's configuration table lists these fields.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return upper

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
