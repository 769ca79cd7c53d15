"""What every ``trackhub`` subcommand shares: the one-line error, settings, progress."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from hub.settings import Settings


class CliError(Exception):
    """A failure to report to the user as one line, without a traceback."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"TRACKHUB_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise CliError(f"invalid configuration: {problems}") from None


def load_sources(settings: Settings) -> dict[str, Any]:
    """The configured webhook sources (name -> config), or a one-line error."""
    try:
        return settings.effective_sources()
    except ValueError as exc:
        raise CliError(str(exc)) from None


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare_kafka(settings: Settings) -> None:
    from hub.kafka_clients import ensure_topics

    if settings.uses_local_broker:
        from hub import local_kafka

        local_kafka.start(settings, progress=progress)
    report = ensure_topics(settings)
    if report.created:
        progress(f"created topics: {', '.join(report.created)}")


def stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def hours_text(value: timedelta | None) -> str:
    return "-" if value is None else f"{value.total_seconds() / 3600:.1f}"


def aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time with its UTC offset: {text!r}")
    return moment
