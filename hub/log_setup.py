"""Log lines for people (text) or for log pipelines (one JSON object per line).

A **correlation id** follows a delivery from the webhook to its alerts: the raw envelope's
id (``raw_<hex>``), which the gateway logs when it accepts the webhook, the normalizer when
it maps it, every event carries as ``raw_id``, and the detect agent when the event opens or
changes an alert. Code sets it for the work at hand with ``correlation(...)``; every line
logged meanwhile carries it (``correlation_id`` in JSON, ``[raw_...]`` in text).

What is never logged: secrets (settings hold them as ``SecretStr``), webhook bodies,
tracking numbers and other identifiers, personal data. Log the envelope, event and alert
ids instead: they are opaque hashes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

CORRELATION_ID: ContextVar[str | None] = ContextVar("trackhub_correlation_id", default=None)
NOISY_LOGGERS = ("kafka", "aiokafka")
# At DEBUG these write record keys and values (kafka-python dumps every request and
# response, aiokafka's producer and faust's topics every record they send): tracking
# numbers, API key hashes, subscription signing secrets. They stay at INFO whatever the
# level.
RECORD_LOGGERS = ("kafka", "aiokafka", "faust.topics")


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    """Every line logged inside carries ``correlation_id``."""
    token = CORRELATION_ID.set(correlation_id)
    try:
        yield
    finally:
        CORRELATION_ID.reset(token)


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = CORRELATION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "correlation_id"?, "error"?}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id:
            line["correlation_id"] = correlation_id
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        correlation_id = getattr(record, "correlation_id", None)
        return f"{text} [{correlation_id}]" if correlation_id else text


def configure_logging(level: str, log_format: str) -> None:
    """Root handler on stderr in ``log_format`` ('text' or 'json'); the Kafka client
    libraries only from WARNING unless ``level`` is DEBUG (they chat on every connect),
    and never below INFO (``RECORD_LOGGERS``: their DEBUG lines carry record contents)."""
    level = level.upper()
    numeric = logging.getLevelNamesMapping().get(level, logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(CorrelationFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in RECORD_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, numeric))
    if numeric > logging.DEBUG:
        for noisy in NOISY_LOGGERS:
            logging.getLogger(noisy).setLevel(logging.WARNING)
