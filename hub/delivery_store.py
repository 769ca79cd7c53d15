"""The durable delivery queue: one SQLite file (WAL), so pending webhooks survive restarts.

A **job** is one alert state for one subscription. ``UNIQUE(subscription_id,
delivery_id)`` makes enqueueing idempotent: alerts.v1 is read at least once, and a
re-read alert state is ignored as long as its row is kept (finished rows are kept
``FINISHED_RETENTION_S``, as long as alerts.v1 keeps its records; their payload is
emptied when they finish). ``seq`` is the order of arrival, which for one shipment is
the order of its alert states on alerts.v1 (keyed by seller: one partition, in order).

**In order per shipment**: only the *head* of a (subscription, shipment), its pending
job with the lowest ``seq``, is ever due; the next waits until the head is delivered,
given up or dropped. An attempt in flight stays ``pending`` here, so a crash in the
middle of one retries it after the restart (receivers deduplicate by ``webhook-id``).

Per subscription the store also keeps ``failing_since``: the time of the first failure
after its last success, from which the disable-after rule counts.

Each thread opens its own ``DeliveryStore`` (SQLite connections stay in the thread that
made them). The ingest thread's commits are synchronous (``synchronous=FULL``): when
``enqueue`` returns the jobs are on disk, and only then are Kafka offsets committed. The
event loop's connection (attempt results) uses ``synchronous=NORMAL``: safe against a
process crash, and what a power cut may lose is at most a mark of a finished attempt, so
a webhook is sent again under the same ``webhook-id`` (at-least-once allows it) or a
retry comes early; no fsync per attempt blocks the loop.
Times are Unix seconds (wall clock: they outlive the process).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

FINISHED_RETENTION_S = 30 * 86400  # alerts.v1 retention: a re-read there stays a duplicate
BUSY_TIMEOUT_MS = 10_000


class JobStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # given up after the retry schedule
    DROPPED = "dropped"  # its subscription was disabled or deleted


@dataclass(frozen=True, slots=True)
class NewJob:
    subscription_id: str
    delivery_id: str
    shipment_id: str
    seller_id: str
    payload: bytes
    published_at: float  # when the alert reached alerts.v1 (the latency's start)


@dataclass(frozen=True, slots=True)
class Job:
    seq: int
    subscription_id: str
    delivery_id: str
    shipment_id: str
    seller_id: str
    payload: bytes
    attempts: int
    next_attempt_at: float
    published_at: float


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    shipment_id TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    created_at REAL NOT NULL,
    published_at REAL NOT NULL,
    finished_at REAL,
    UNIQUE (subscription_id, delivery_id)
);
CREATE INDEX IF NOT EXISTS jobs_pending_order
    ON jobs (subscription_id, shipment_id, seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS jobs_pending_due ON jobs (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at) WHERE status != 'pending';
CREATE TABLE IF NOT EXISTS subscription_health (
    subscription_id TEXT PRIMARY KEY,
    failing_since REAL,
    last_error TEXT,
    last_success_at REAL
);
"""

_JOB_COLUMNS = (
    "seq, subscription_id, delivery_id, shipment_id, seller_id, payload, attempts, "
    "next_attempt_at, published_at"
)
# a pending job with no earlier pending job of the same subscription and shipment
_IS_HEAD = """
    j.status = 'pending' AND NOT EXISTS (
        SELECT 1 FROM jobs p
        WHERE p.status = 'pending' AND p.subscription_id = j.subscription_id
          AND p.shipment_id = j.shipment_id AND p.seq < j.seq)
"""


class DeliveryStore:
    def __init__(self, path: Path, *, sync_every_commit: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if sync_every_commit else 'NORMAL'}")
        self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- queue ------------------------------------------------------------------------

    def enqueue(self, jobs: Iterable[NewJob], now: float) -> int:
        """Add jobs, due now, in one transaction; duplicates are ignored. Returns how
        many were new. Durable when it returns."""
        rows = [{**asdict(job), "now": now} for job in jobs]
        if not rows:
            return 0
        before = self._db.total_changes
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO jobs (subscription_id, delivery_id, shipment_id, "
                "seller_id, payload, published_at, next_attempt_at, created_at) VALUES "
                "(:subscription_id, :delivery_id, :shipment_id, :seller_id, :payload, "
                ":published_at, :now, :now)",  # due now, created now
                rows,
            )
        return self._db.total_changes - before

    def due(
        self,
        now: float,
        limit: int,
        *,
        exclude_seqs: Collection[int] = (),
        exclude_subscriptions: Collection[str] = (),
    ) -> list[Job]:
        """Heads due by ``now``, earliest first: at most one per (subscription, shipment).
        ``exclude_seqs``: attempts in flight; ``exclude_subscriptions``: at their cap."""
        where, params = self._exclusions(exclude_seqs, exclude_subscriptions)
        rows = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE {_IS_HEAD} AND j.next_attempt_at <= ? "
            f"{where} ORDER BY j.next_attempt_at, j.seq LIMIT ?",
            (now, *params, limit),
        ).fetchall()
        return [Job(*row) for row in rows]

    def next_due_at(
        self, *, exclude_seqs: Collection[int] = (), exclude_subscriptions: Collection[str] = ()
    ) -> float | None:
        """When the earliest head (outside the exclusions) becomes due; None if none."""
        where, params = self._exclusions(exclude_seqs, exclude_subscriptions)
        (at,) = self._db.execute(
            f"SELECT MIN(j.next_attempt_at) FROM jobs j WHERE {_IS_HEAD} {where}", params
        ).fetchone()
        return at

    def mark_delivered(self, seq: int, now: float) -> bool:
        return self._finish(seq, JobStatus.DELIVERED, None, now)

    def mark_failed(self, seq: int, error: str, now: float) -> bool:
        """Given up: the retry schedule is used up."""
        return self._finish(seq, JobStatus.FAILED, error, now)

    def reschedule(self, seq: int, at: float, error: str) -> bool:
        """One more failed attempt; due again at ``at``. False when no longer pending."""
        cursor = self._db.execute(
            "UPDATE jobs SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
            "WHERE seq = ? AND status = 'pending'",
            (at, error, seq),
        )
        return cursor.rowcount == 1

    def drop_subscription(self, subscription_id: str, now: float) -> int:
        """Drop every pending job of a subscription (disabled or deleted); returns how many."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE jobs SET status = 'dropped', finished_at = ?, payload = x'' "
                "WHERE subscription_id = ? AND status = 'pending'",
                (now, subscription_id),
            )
            self._db.execute(
                "DELETE FROM subscription_health WHERE subscription_id = ?", (subscription_id,)
            )
        return cursor.rowcount

    def pending_subscriptions(self) -> list[str]:
        """The subscriptions that have pending jobs."""
        rows = self._db.execute(
            "SELECT DISTINCT subscription_id FROM jobs WHERE status = 'pending'"
        )
        return [row[0] for row in rows]

    def counts(self) -> tuple[int, int]:
        """(pending jobs, of which retrying after a failed attempt)."""
        pending, retrying = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(attempts > 0), 0) FROM jobs WHERE status = 'pending'"
        ).fetchone()
        return int(pending), int(retrying)

    def status_of(self, subscription_id: str, delivery_id: str) -> tuple[JobStatus, int] | None:
        """(status, attempts) of one job, for tests and tools."""
        row = self._db.execute(
            "SELECT status, attempts FROM jobs WHERE subscription_id = ? AND delivery_id = ?",
            (subscription_id, delivery_id),
        ).fetchone()
        return None if row is None else (JobStatus(row[0]), int(row[1]))

    def purge_finished(self, before: float) -> int:
        """Forget finished jobs that finished before ``before``."""
        cursor = self._db.execute(
            "DELETE FROM jobs WHERE status != 'pending' AND finished_at < ?", (before,)
        )
        return cursor.rowcount

    # --- per-subscription health -------------------------------------------------------

    def failing_since(self, subscription_id: str) -> float | None:
        row = self._db.execute(
            "SELECT failing_since FROM subscription_health WHERE subscription_id = ?",
            (subscription_id,),
        ).fetchone()
        return None if row is None else row[0]

    def record_success(self, subscription_id: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO subscription_health (subscription_id, failing_since, last_success_at) "
            "VALUES (?, NULL, ?) ON CONFLICT (subscription_id) DO UPDATE SET "
            "failing_since = NULL, last_success_at = excluded.last_success_at",
            (subscription_id, now),
        )

    def record_failure(self, subscription_id: str, error: str, now: float) -> float:
        """Note a failure; returns when the current run of failures began."""
        self._db.execute(
            "INSERT INTO subscription_health (subscription_id, failing_since, last_error) "
            "VALUES (?, ?, ?) ON CONFLICT (subscription_id) DO UPDATE SET "
            "failing_since = COALESCE(failing_since, excluded.failing_since), "
            "last_error = excluded.last_error",
            (subscription_id, now, error),
        )
        since = self.failing_since(subscription_id)
        assert since is not None
        return since

    # --- helpers -------------------------------------------------------------------------

    def _finish(self, seq: int, status: JobStatus, error: str | None, now: float) -> bool:
        cursor = self._db.execute(
            "UPDATE jobs SET status = ?, finished_at = ?, payload = x'', "
            "attempts = attempts + 1, last_error = COALESCE(?, last_error) "
            "WHERE seq = ? AND status = 'pending'",
            (status.value, now, error, seq),
        )
        return cursor.rowcount == 1

    def _transaction(self) -> _Immediate:
        """``with self._transaction():`` runs the block in BEGIN IMMEDIATE ... COMMIT."""
        return _Immediate(self._db)

    @staticmethod
    def _exclusions(
        seqs: Collection[int], subscriptions: Collection[str]
    ) -> tuple[str, list[object]]:
        where = ""
        params: list[object] = []
        if seqs:
            where += f" AND j.seq NOT IN ({','.join('?' * len(seqs))})"
            params += list(seqs)
        if subscriptions:
            where += f" AND j.subscription_id NOT IN ({','.join('?' * len(subscriptions))})"
            params += list(subscriptions)
        return where, params


class _Immediate:
    """A write transaction taken at its start (autocommit connection: explicit BEGIN)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
