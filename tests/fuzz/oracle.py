"""What a fuzz case must give, checked: events that are valid against their own schema,
or a dead letter with a clear reason and the whole payload, within a time limit.

Each case goes through the normalizer's own function (``hub.normalize.normalize_envelope``,
what the normalize agent runs), which calls the connector's ``parse``:

- **events**: every ``TrackingEvent`` survives a JSON round trip (what the agent writes);
- **error**: a ``DeadLetter`` whose reason is a specific message (not empty, not a bare
  repr, not just the error's type) and which holds the exact body (nothing lost), and
  which itself serializes;
- **crash**: the mapper raised something other than its typed ``ConnectorError`` (the
  normalizer's ``MapperCrash``), an event or dead letter failed its schema, or the reason
  was not clear; the traceback is kept;
- **hang**: the case used more than its time limit of CPU: a watchdog on the process's
  CPU time (``ITIMER_PROF``) interrupts it. CPU time, not wall time, so a machine busy
  with other work does not turn a slow case into a false hang; a parser does no I/O, so
  a real hang (a loop, a regex backtracking) burns CPU and is caught.
"""

from __future__ import annotations

import logging
import re
import signal
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import FrameType

from connectors.base import ConnectorError
from connectors.registry import get_connector
from hub.normalize import normalize_envelope
from schemas.events import DeadLetter, RawEnvelope, TrackingEvent
from tests.fuzz.seeds import content_type

RECEIVED_AT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 4, 0, 5, tzinfo=UTC)
DEFAULT_TIME_LIMIT_S = 2.0
_BARE_REPR = re.compile(r"^[A-Za-z_]*\(?'[^']*'\)?$|^<.*>$|^[0-9]+$")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"[0-9]+")


class Outcome(StrEnum):
    EVENTS = "events"  # one event or more
    EMPTY = "empty"  # a payload read without error that reports nothing
    ERROR = "error"  # a typed error, dead-lettered with its reason
    CRASH = "crash"
    HANG = "hang"

    @property
    def failed(self) -> bool:
        return self in (Outcome.CRASH, Outcome.HANG)


@dataclass(frozen=True, slots=True)
class CaseResult:
    outcome: Outcome
    detail: str  # the dead letter's reason, or what crashed and where
    elapsed_ms: float


class CaseTimeout(BaseException):
    """Raised by the watchdog inside a case: a BaseException, so no mapper's
    ``except Exception`` (nor the normalizer's) can swallow it."""


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise CaseTimeout


def message_shape(reason: str) -> str:
    """A reason with its quoted values and numbers blanked: ``expected an ISA segment,
    found '...'`` counts once however many bodies gave it."""
    return _NUMBER.sub("#", _QUOTED.sub("'…'", reason))


def unclear_reason(reason: str, error_type: str) -> str | None:
    """Why a dead letter's reason is not a clear error message, or None when it is."""
    text = reason.strip()
    if len(text) < 8:
        return f"reason too short: {reason!r}"
    if text == error_type or _BARE_REPR.match(text):
        return f"reason is a bare repr: {reason!r}"
    if "Traceback" in text:
        return "reason holds a traceback"
    return None


def _crash_detail(format_name: str, raw: RawEnvelope) -> str:
    """Parse again outside the normalizer to get the exception and where it was raised."""
    try:
        get_connector(format_name).parse(raw)
    except ConnectorError:
        return "MapperCrash once, a typed error when parsed again (non-deterministic mapper)"
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)[-3:]
        where = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in frames[::-1])
        return f"{type(exc).__name__}: {str(exc)[:300]} at {where}"
    return "MapperCrash once, events when parsed again (non-deterministic mapper)"


def _check(format_name: str, raw: RawEnvelope) -> tuple[Outcome, str]:
    result = normalize_envelope(raw, now=NOW)
    letter = result.dead_letter
    if letter is None:
        for event in result.events:
            if TrackingEvent.model_validate_json(event.model_dump_json()) != event:
                return Outcome.CRASH, f"event {event.event_id} changes in a JSON round trip"
        return (Outcome.EVENTS if result.events else Outcome.EMPTY), f"{len(result.events)}"
    if letter.error_type == "MapperCrash":
        return Outcome.CRASH, _crash_detail(format_name, raw)
    unclear = unclear_reason(letter.reason, letter.error_type)
    if unclear:
        return Outcome.CRASH, f"{letter.error_type}: {unclear}"
    if letter.raw.body != raw.body:
        return Outcome.CRASH, "the dead letter lost part of the payload"
    DeadLetter.model_validate_json(letter.model_dump_json())  # what the agent writes
    return Outcome.ERROR, letter.reason


def envelope(format_name: str, body: bytes) -> RawEnvelope:
    """The envelope the gateway would write for this body (signature checked)."""
    return RawEnvelope.from_body(
        body=body,
        source=format_name,
        format=format_name,
        reference="fuzz",
        received_at=RECEIVED_AT,
        content_type=content_type(format_name),
        signature_verified=True,
    )


def run_case(
    format_name: str, body: bytes, time_limit_s: float = DEFAULT_TIME_LIMIT_S
) -> CaseResult:
    """One case through the normalizer under a CPU-time watchdog (main thread only)."""
    raw = envelope(format_name, body)
    previous = signal.signal(signal.SIGPROF, _on_alarm)
    started = time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_PROF, time_limit_s)
        try:
            outcome, detail = _check(format_name, raw)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except CaseTimeout:
        outcome, detail = Outcome.HANG, f"over {time_limit_s:g} s of CPU"
    except Exception as exc:  # a schema failure of the normalizer's own result
        outcome, detail = Outcome.CRASH, f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.signal(signal.SIGPROF, previous)
    elapsed_s = time.perf_counter() - started
    return CaseResult(outcome, detail, elapsed_ms=elapsed_s * 1000)


def quiet_mapper_logs() -> None:
    """The normalizer logs every mapper crash with its traceback: the fuzzer reports
    them itself, once each, instead of flooding the terminal."""
    logging.getLogger("hub.normalize").setLevel(logging.CRITICAL)
