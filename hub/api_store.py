"""The seller API's read model: a SQLite projection of the hub's topics.

The API answers from here, never from the workers' tables: plans (``shipments.v1``),
shipment state (the ``hub-shipments`` changelog), the timeline of resolved events (the
shipments inbox), alerts (``alerts.v1``), scorecard shares, sellers, API keys and
subscriptions. ``hub.api_projector`` applies each Kafka record together with its offset in
one transaction, so after a crash the projection resumes exactly where it stopped; the
file is a cache that can be deleted and rebuilt from Kafka.

Every query that returns seller data takes the seller id and filters by it: isolation is
a ``WHERE seller_id = ?`` in this module, not a check a handler may forget.

Alert stream positions are Kafka coordinates of ``alerts.v1`` (``partition-offset``):
the same in every API process and across restarts, so ``Last-Event-ID`` resumes anywhere.
An alert state published twice (at-least-once) is logged once, at its first offset.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS positions (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition));
CREATE TABLE IF NOT EXISTS sellers (seller_id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, seller_id TEXT NOT NULL, secret_sha256 TEXT NOT NULL,
    revoked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
    subscription_id TEXT PRIMARY KEY, seller_id TEXT NOT NULL, created_at TEXT NOT NULL,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS subscriptions_by_seller ON subscriptions (seller_id, created_at);
CREATE TABLE IF NOT EXISTS shipments (
    shipment_id TEXT PRIMARY KEY, seller_id TEXT NOT NULL, revision INTEGER NOT NULL,
    plan TEXT NOT NULL, status TEXT NOT NULL, state TEXT);
CREATE INDEX IF NOT EXISTS shipments_by_seller ON shipments (seller_id, status, shipment_id);
CREATE TABLE IF NOT EXISTS events (
    shipment_id TEXT NOT NULL, event_id TEXT NOT NULL, occurred_at TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (shipment_id, event_id));
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, seller_id TEXT NOT NULL, shipment_id TEXT NOT NULL,
    type TEXT NOT NULL, state TEXT NOT NULL, party_role TEXT, party_id TEXT,
    revision INTEGER NOT NULL, opened_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_by_seller ON alerts (seller_id, opened_at, alert_id);
CREATE TABLE IF NOT EXISTS alert_log (
    partition INTEGER NOT NULL, offset INTEGER NOT NULL, seller_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, PRIMARY KEY (partition, offset));
CREATE INDEX IF NOT EXISTS alert_log_by_seller ON alert_log (seller_id, partition, offset);
CREATE TABLE IF NOT EXISTS scorecard_shares (
    shipment_id TEXT PRIMARY KEY, body TEXT NOT NULL);
"""

SHIPMENT_STATUSES = ("registered", "in_transit", "delivered", "exception")


@dataclass(frozen=True)
class StreamPosition:
    """Where an alert sits in ``alerts.v1``; the SSE event id is its text form."""

    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}-{self.offset}"

    @classmethod
    def parse(cls, text: str) -> StreamPosition | None:
        """An id this API sent, or ``0``: before everything still retained."""
        if text.strip() == "0":
            return cls(-1, -1)
        head, sep, tail = text.strip().partition("-")
        if not sep or not head.isdigit() or not tail.isdigit():
            return None
        return cls(int(head), int(tail))


@dataclass(frozen=True)
class LoggedAlert:
    position: StreamPosition
    seller_id: str
    body: str  # the Alert JSON, as published


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any] | None:
    """The keyset values a cursor carries, or None when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != arity:
        return None
    if not all(isinstance(v, str) for v in values):
        return None
    return values


def shipment_status(state: dict[str, Any] | None) -> str:
    """A shipment's coarse status from the hub's stored state (JSON)."""
    if not state:
        return "registered"
    if state.get("delivered"):
        return "delivered"
    legs = state.get("legs", {}).values()
    abandoned = state.get("abandoned")
    if abandoned:
        later = [
            leg
            for leg in legs
            if leg.get("last_progress") and leg["last_progress"]["at"] > abandoned["at"]
        ]
        if not later:
            return "exception"
    if any(leg.get("status", "pending") != "pending" for leg in legs):
        return "in_transit"
    return "registered"


class ApiStore:
    """One SQLite file; the projector writes through ``transaction``, handlers read.

    SQLite serializes writers itself; reads run on their own connection (WAL lets them
    proceed during a write). Each method is short and indexed, so handlers call it on the
    event loop directly.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._write.executescript(SCHEMA)
        self._read = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._read.row_factory = sqlite3.Row
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    def close(self) -> None:
        self._write.close()
        self._read.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            self._write.execute("BEGIN IMMEDIATE")
            try:
                yield self._write
            except BaseException:
                self._write.execute("ROLLBACK")
                raise
            self._write.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._read_lock:
            return self._read.execute(sql, params).fetchall()

    # --- positions ---------------------------------------------------------------------

    def positions(self) -> dict[tuple[str, int], int]:
        rows = self._rows("SELECT topic, partition, next_offset FROM positions")
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    # --- keys and sellers --------------------------------------------------------------

    def key_owner(self, key_id: str, secret_sha256: str) -> str | None:
        """The seller of an unrevoked key whose hash matches; None otherwise."""
        import hmac

        rows = self._rows(
            "SELECT seller_id, secret_sha256 FROM api_keys WHERE key_id = ? AND revoked = 0",
            (key_id,),
        )
        if rows and hmac.compare_digest(rows[0]["secret_sha256"], secret_sha256):
            return str(rows[0]["seller_id"])
        return None

    # --- shipments ---------------------------------------------------------------------

    def shipment(self, seller_id: str, shipment_id: str) -> sqlite3.Row | None:
        rows = self._rows(
            "SELECT * FROM shipments WHERE seller_id = ? AND shipment_id = ?",
            (seller_id, shipment_id),
        )
        return rows[0] if rows else None

    def shipment_owner(self, shipment_id: str) -> tuple[str, int, str] | None:
        """(seller, revision, plan JSON) of any seller's shipment: for the idempotent
        register, which must not overwrite another seller's id (never shown to callers)."""
        rows = self._rows(
            "SELECT seller_id, revision, plan FROM shipments WHERE shipment_id = ?",
            (shipment_id,),
        )
        if not rows:
            return None
        return rows[0]["seller_id"], rows[0]["revision"], rows[0]["plan"]

    def shipments(
        self, seller_id: str, *, status: str | None, cursor: list[Any] | None, limit: int
    ) -> Page:
        sql = "SELECT shipment_id, status, plan, state FROM shipments WHERE seller_id = ?"
        params: list[Any] = [seller_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if cursor is not None:
            sql += " AND shipment_id > ?"
            params.append(cursor[0])
        sql += " ORDER BY shipment_id LIMIT ?"
        params.append(limit + 1)
        rows = self._rows(sql, tuple(params))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [shipment_summary(r) for r in rows]
        next_cursor = encode_cursor([rows[-1]["shipment_id"]]) if more else None
        return Page(items, next_cursor)

    def timeline(self, shipment_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT body FROM events WHERE shipment_id = ? ORDER BY occurred_at, event_id",
            (shipment_id,),
        )
        return [json.loads(r["body"]) for r in rows]

    # --- alerts ------------------------------------------------------------------------

    def alert(self, seller_id: str, alert_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT body FROM alerts WHERE seller_id = ? AND alert_id = ?", (seller_id, alert_id)
        )
        return json.loads(rows[0]["body"]) if rows else None

    def alerts(
        self,
        seller_id: str,
        *,
        filters: dict[str, str],
        cursor: list[Any] | None,
        limit: int,
    ) -> Page:
        """Newest opened first; ``filters`` keys: state, type, shipment_id, party_role,
        party_id (column names, chosen by the caller from a fixed list)."""
        sql = "SELECT alert_id, opened_at, body FROM alerts WHERE seller_id = ?"
        params: list[Any] = [seller_id]
        for column in ("state", "type", "shipment_id", "party_role", "party_id"):
            if column in filters:
                sql += f" AND {column} = ?"
                params.append(filters[column])
        if cursor is not None:
            sql += " AND (opened_at < ? OR (opened_at = ? AND alert_id < ?))"
            params += [cursor[0], cursor[0], cursor[1]]
        sql += " ORDER BY opened_at DESC, alert_id DESC LIMIT ?"
        params.append(limit + 1)
        rows = self._rows(sql, tuple(params))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [json.loads(r["body"]) for r in rows]
        last = rows[-1] if rows else None
        next_cursor = encode_cursor([last["opened_at"], last["alert_id"]]) if more else None
        return Page(items, next_cursor)

    def alert_log_after(
        self, seller_id: str, after: StreamPosition | None, limit: int = 1000
    ) -> list[LoggedAlert]:
        """The seller's alert states after a stream position, in stream order."""
        if after is None:
            return []
        rows = self._rows(
            "SELECT partition, offset, seller_id, body FROM alert_log WHERE seller_id = ? "
            "AND (partition > ? OR (partition = ? AND offset > ?)) "
            "ORDER BY partition, offset LIMIT ?",
            (seller_id, after.partition, after.partition, after.offset, limit),
        )
        return [
            LoggedAlert(StreamPosition(r["partition"], r["offset"]), r["seller_id"], r["body"])
            for r in rows
        ]

    # --- subscriptions -----------------------------------------------------------------

    def subscriptions(self, seller_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT body FROM subscriptions WHERE seller_id = ? ORDER BY created_at, "
            "subscription_id",
            (seller_id,),
        )
        return [json.loads(r["body"]) for r in rows]

    def subscription(self, seller_id: str, subscription_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT body FROM subscriptions WHERE seller_id = ? AND subscription_id = ?",
            (seller_id, subscription_id),
        )
        return json.loads(rows[0]["body"]) if rows else None

    # --- scorecards --------------------------------------------------------------------

    def scorecard_shares(self, seller_id: str) -> list[str]:
        rows = self._rows(
            "SELECT c.body FROM scorecard_shares c JOIN shipments s "
            "ON s.shipment_id = c.shipment_id WHERE s.seller_id = ?",
            (seller_id,),
        )
        return [r["body"] for r in rows]


def shipment_summary(row: sqlite3.Row) -> dict[str, Any]:
    plan = json.loads(row["plan"])
    state = json.loads(row["state"]) if row["state"] else None
    active = None
    if state:
        active = next(
            (leg for leg, p in state.get("legs", {}).items() if p.get("status") == "active"),
            None,
        )
    return {
        "shipment_id": row["shipment_id"],
        "status": row["status"],
        "integration_model": plan.get("integration_model"),
        "lane": plan.get("lane"),
        "active_leg": active,
        "promised_delivery_at": plan.get("promised_delivery_at"),
        "open_alerts": len(state.get("open_alerts", {})) if state else 0,
    }
