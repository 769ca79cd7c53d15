"""Log lines: JSON for pipelines, text for people, both carrying the correlation id."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from hub.log_setup import CorrelationFilter, JsonFormatter, TextFormatter, correlation


def _record(message: str, *args: object) -> logging.LogRecord:
    record = logging.LogRecord("trackhub.test", logging.WARNING, __file__, 1, message, args, None)
    CorrelationFilter().filter(record)
    return record


def test_json_lines_carry_the_correlation_id_of_the_work_at_hand() -> None:
    with correlation("raw_" + "a" * 32):
        inside = json.loads(JsonFormatter().format(_record("dead-lettered %s", "x")))
    outside = json.loads(JsonFormatter().format(_record("plain")))
    assert inside["correlation_id"] == "raw_" + "a" * 32
    assert inside["message"] == "dead-lettered x"
    assert inside["level"] == "WARNING" and inside["logger"] == "trackhub.test"
    assert "correlation_id" not in outside


def test_the_id_is_restored_after_the_block_even_on_error() -> None:
    with pytest.raises(RuntimeError), correlation("raw_1"):
        raise RuntimeError
    assert JsonFormatter().format(_record("after")).find("raw_1") == -1


def test_text_lines_end_with_the_id() -> None:
    with correlation("raw_" + "b" * 32):
        line = TextFormatter().format(_record("alert %s", "alt_1"))
    assert line.endswith("alert alt_1 [raw_" + "b" * 32 + "]")


def test_exceptions_are_one_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["error"]
