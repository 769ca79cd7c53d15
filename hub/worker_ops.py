"""What a worker tells its operators: /metrics, /healthz, /readyz and the sampled gauges.

Declared on the faust app by ``hub.app``; the numbers come from the consumer faust runs
(its assignment, log end offsets, read and committed offsets) and from the table
directory. faust's own sensor has no lag figure, hence ``hub.consumer_lag``.

Readiness: the worker is ready when its consumer has joined the group (not rebalancing),
its tables are recovered, and no partition it owns has more unprocessed messages than
``TRACKHUB_HUB_MAX_LAG`` (the same threshold above which absence alerts are held back).

Unprocessed, not unread: faust counts a record as read once it is in its stream's buffer
(hundreds of records ahead of the agent here), and the log end it knows is the one of its
last fetch, which lags what the worker has just sent to its own inputs (the hub's resolve
hops and inbox). ``InputProgress`` keeps what the agents have done and sent instead.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mode

from hub import metrics, topics
from hub.consumer_lag import UncommittedAges, lag_of
from hub.ops_http import Check, OpsServer
from hub.settings import Settings

log = logging.getLogger(__name__)


def input_topics(settings: Settings) -> frozenset[str]:
    """The topics a worker's agents read and commit (not the tables' changelogs, which
    faust reads for recovery without committing)."""
    names = set()
    if "normalize" in settings.roles:
        names.add(topics.RAW)
    if "hub" in settings.roles:
        names |= {topics.SHIPMENTS, topics.EVENTS, topics.RESOLVE, topics.SHIPMENTS_INBOX}
    return frozenset(names)


def declare_worker_ops(app: Any, settings: Settings) -> None:
    group = app.conf.id
    inputs = input_topics(settings)
    ages = UncommittedAges()
    sampled: set[tuple[str, int]] = set()

    async def readiness() -> list[Check]:
        return worker_readiness(app, settings)

    server = OpsServer(settings.worker_http_host, settings.worker_http_port, readiness)

    @app.service
    class WorkerOpsServer(mode.Service):
        async def on_start(self) -> None:
            await server.start()

        async def on_stop(self) -> None:
            await server.stop()

    @app.timer(interval=settings.metrics_sample_s)
    async def sample_worker_gauges() -> None:
        sample_consumer(app, group, inputs, ages, sampled, time.time())
        sample_store_sizes(Path(app.conf.tabledir))


@dataclass
class InputProgress:
    """What this worker's agents have done with their input partitions, and what it has
    sent to topics it reads itself, keyed by (topic, partition). Agents report each record
    once they are done with it (its sends made); a dict write per record."""

    next_offset: dict[tuple[str, int], int] = field(default_factory=dict)
    sent_end: dict[tuple[str, int], int] = field(default_factory=dict)
    # sends to the worker's own inputs not acknowledged yet: token -> when it was made
    pending: dict[int, float] = field(default_factory=dict)
    monotonic: Callable[[], float] = time.monotonic
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def oldest_send(self) -> float | None:
        """When the oldest unacknowledged send was made; None when none is."""
        return min(self.pending.values(), default=None)

    def processed(self, topic: str, partition: int, offset: int) -> None:
        self.next_offset[(topic, partition)] = offset + 1

    def sending(self) -> int:
        """A send to an input is made; returns its token for ``sent``/``send_failed``."""
        token = next(self._tokens)
        self.pending[token] = self.monotonic()
        return token

    def sent(self, token: int, topic: str, partition: int, offset: int) -> None:
        """The send ``token`` was written at ``offset``."""
        self.pending.pop(token, None)
        key = (topic, partition)
        self.sent_end[key] = max(self.sent_end.get(key, 0), offset + 1)

    def send_failed(self, token: int) -> None:
        """The send ``token`` failed (the publish guard stops the worker)."""
        self.pending.pop(token, None)


@dataclass(frozen=True, slots=True)
class PartitionBacklog:
    """One input partition: its end (the later of the fetched log end and the worker's own
    acknowledged sends; None while not fetched yet) and the next offset to process (the
    furthest known of the agent's and the group's committed one)."""

    end: int | None
    position: int

    @property
    def unprocessed(self) -> int | None:
        return None if self.end is None else max(0, self.end - self.position)


def partition_backlog(
    log_end: int | None, sent_end: int | None, positions: Iterable[int | None]
) -> PartitionBacklog:
    position = max((p for p in positions if p is not None), default=0)
    if log_end is None:
        return PartitionBacklog(None, position)
    return PartitionBacklog(max(log_end, sent_end or 0), position)


def worker_backlog(
    app: Any, inputs: frozenset[str], progress: InputProgress
) -> dict[Any, PartitionBacklog]:
    """Per assigned partition of ``inputs``: its end and the worker's position in it."""
    consumer = app.consumer
    result: dict[Any, PartitionBacklog] = {}
    for tp in consumer.assignment():
        if tp.topic not in inputs:
            continue
        key = (tp.topic, tp.partition)
        committed = consumer._committed_offset.get(tp)  # faust keeps no public one
        result[tp] = partition_backlog(
            consumer.highwater(tp),
            progress.sent_end.get(key),
            (progress.next_offset.get(key), committed),
        )
    return result


def worker_readiness(app: Any, settings: Settings) -> list[Check]:
    checks = [Check("group", not app.rebalancing, "rebalancing" if app.rebalancing else "joined")]
    recovery = getattr(app.tables, "recovery", None)
    recovered = recovery is None or recovery.completed.is_set()
    checks.append(Check("tables", recovered, "recovered" if recovered else "recovering"))
    backlog = worker_backlog(app, input_topics(settings), app.input_progress)
    worst = max((b.unprocessed or 0 for b in backlog.values()), default=0)
    checks.append(
        Check(
            "backlog",
            worst <= settings.hub_max_lag,
            f"largest unprocessed backlog {worst} (threshold {settings.hub_max_lag})",
        )
    )
    return checks


def sample_consumer(
    app: Any,
    group: str,
    inputs: frozenset[str],
    ages: UncommittedAges,
    sampled: set[tuple[str, int]],
    now: float,
) -> None:
    """Lag and oldest-uncommitted age of every partition this worker owns; the series of
    partitions it gave up are removed (another worker reports them now)."""
    consumer = app.consumer
    owned: set[tuple[str, int]] = set()
    for tp in consumer.assignment():
        if tp.topic not in inputs:
            continue
        log_end = consumer.highwater(tp)
        if log_end is None:  # not fetched yet: no figure rather than a wrong one
            continue
        committed = consumer._committed_offset.get(tp)  # faust keeps no public one
        labels = (group, tp.topic, str(tp.partition))
        metrics.CONSUMER_LAG.labels(*labels).set(lag_of(log_end, committed))
        age = ages.observe((tp.topic, tp.partition), now, log_end, committed)
        metrics.OLDEST_UNCOMMITTED_AGE.labels(*labels).set(age)
        owned.add((tp.topic, tp.partition))
    for topic, partition in sampled - owned:
        ages.forget((topic, partition))
        for gauge in (metrics.CONSUMER_LAG, metrics.OLDEST_UNCOMMITTED_AGE):
            with contextlib.suppress(KeyError):
                gauge.remove(group, topic, str(partition))
    sampled.clear()
    sampled.update(owned)


def sample_store_sizes(table_dir: Path) -> None:
    """Bytes on disk per table (``<table>-<partition>.db`` directories of rocksdb)."""
    sizes: dict[str, int] = {}
    if table_dir.is_dir():
        for db in table_dir.glob("*.db"):
            table = db.name.removesuffix(".db").rpartition("-")[0] or db.name
            sizes[table] = sizes.get(table, 0) + _tree_bytes(db)
    for table, size in sizes.items():
        metrics.STATE_STORE_BYTES.labels(table).set(size)


def _tree_bytes(path: Path) -> int:
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file():
                total += item.stat().st_size
        except OSError:  # rocksdb removed it between the listing and the stat
            continue
    return total
