"""The ``trackhub`` command: one entry point, a subcommand per job.

Every subcommand has ``--help``; failures print one clear line on stderr (``trackhub:
error: ...``) and exit non-zero (1 for a failed job, 2 for a usage error).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from hub.settings import Settings

log = logging.getLogger("trackhub")


class CliError(Exception):
    """A failure to report to the user as one line, without a traceback."""


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"TRACKHUB_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise CliError(f"invalid configuration: {problems}") from None


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- kafka -------------------------------------------------------------------------------


def cmd_kafka_up(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.uses_local_broker:
        raise CliError(
            f"TRACKHUB_KAFKA_BOOTSTRAP is set ({settings.kafka_bootstrap}): the project does "
            "not start a local broker; unset it to use the local one"
        )
    from hub import local_kafka
    from hub.kafka_clients import ensure_topics

    started = time.monotonic()
    status = local_kafka.start(settings, progress=_progress)
    report = ensure_topics(settings)
    elapsed = time.monotonic() - started
    if report.created:
        _progress(f"created topics: {', '.join(report.created)}")
    _progress(f"broker ready in {elapsed:.1f}s (pid {status.pid}, log {status.log_file})")
    print(settings.bootstrap_servers)
    return 0


def cmd_kafka_status(args: argparse.Namespace) -> int:
    settings = _settings()
    from hub import local_kafka

    if not settings.uses_local_broker:
        print(f"external cluster: {settings.kafka_bootstrap} (TRACKHUB_KAFKA_BOOTSTRAP)")
        return 0
    status = local_kafka.status(settings)
    print(status.describe())
    return 0 if status.running and status.answering else 3


def cmd_kafka_down(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.uses_local_broker:
        raise CliError("TRACKHUB_KAFKA_BOOTSTRAP is set: the project does not run that cluster")
    from hub import local_kafka

    stopped = local_kafka.stop(settings, progress=_progress)
    _progress("broker stopped" if stopped else "no local broker was running")
    return 0


# --- schema ------------------------------------------------------------------------------


def cmd_schema_export(args: argparse.Namespace) -> int:
    from schemas.export import JSON_DIR, drifted_json_schemas, export_json_schemas

    out_dir: Path = args.out or JSON_DIR
    if args.check:
        drift = drifted_json_schemas(out_dir)
        if drift:
            raise CliError(
                f"JSON Schema files out of date in {out_dir}: {', '.join(drift)} "
                "(run `trackhub schema export`)"
            )
        _progress(f"JSON Schema files in {out_dir} match the models")
        return 0
    for path in export_json_schemas(out_dir):
        print(path)
    return 0


# --- run ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    from hub.kafka_clients import ensure_topics

    if settings.uses_local_broker:
        from hub import local_kafka

        local_kafka.start(settings, progress=_progress)
    report = ensure_topics(settings)
    if report.created:
        _progress(f"created topics: {', '.join(report.created)}")
    from hub.worker import run_worker

    return run_worker(settings)


# --- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trackhub",
        description="Tracking integration hub for cross-border e-commerce. "
        "Configuration comes from TRACKHUB_* environment variables (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the hub: broker (local unless TRACKHUB_KAFKA_BOOTSTRAP), topics, workers",
        description="Start the hub's main job and wait for events until interrupted.",
    )
    run.set_defaults(handler=cmd_run)

    kafka = commands.add_parser(
        "kafka",
        help="manage the local single-node Kafka broker",
        description="Manage the local Kafka broker (KRaft, loopback only) whose jars are "
        "resolved with Maven into the state folder.",
    )
    kafka_commands = kafka.add_subparsers(dest="kafka_command", metavar="ACTION", required=True)
    kafka_commands.add_parser(
        "up",
        help="resolve jars, format storage, start the broker, create topics (idempotent)",
        description="Start the local broker if it is not running, create the hub's topics "
        "and print the bootstrap address on stdout.",
    ).set_defaults(handler=cmd_kafka_up)
    kafka_commands.add_parser(
        "status",
        help="say whether the local broker runs and answers (exit 3 when not)",
        description="Print the local broker's state; exit 0 when it runs and answers.",
    ).set_defaults(handler=cmd_kafka_status)
    kafka_commands.add_parser(
        "down",
        help="stop the local broker (clean shutdown, then kill after a timeout)",
        description="Stop the local broker; harmless when it is not running.",
    ).set_defaults(handler=cmd_kafka_down)

    schema = commands.add_parser(
        "schema",
        help="JSON Schema files of the common event schema",
        description="Work with the JSON Schema files generated from the pydantic models.",
    )
    schema_commands = schema.add_subparsers(dest="schema_command", metavar="ACTION", required=True)
    export = schema_commands.add_parser(
        "export",
        help="write schemas/json/*.schema.json from the models",
        description="Write one JSON Schema file per model; with --check, only compare.",
    )
    export.add_argument("--out", type=Path, default=None, help="folder (default schemas/json)")
    export.add_argument(
        "--check", action="store_true", help="fail if the files differ from the models"
    )
    export.set_defaults(handler=cmd_schema_export)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trackhub")
    except PackageNotFoundError:
        return "unknown"


def _configure_logging() -> None:
    """Our INFO lines; the Kafka client libraries only from WARNING (they chat per connect).

    Read before ``Settings`` so that a bad configuration is itself reported properly.
    """
    level = os.environ.get("TRACKHUB_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if level != "DEBUG":
        for noisy in ("kafka", "aiokafka"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging()
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CliError as exc:
        print(f"trackhub: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("trackhub: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, no traceback
        known = _known_failure(exc)
        if known is None:
            raise
        print(f"trackhub: error: {known}", file=sys.stderr)
        return 1


def _known_failure(exc: Exception) -> str | None:
    """A one-line message for the failures users cause or can fix; None for our bugs."""
    from hub.kafka_clients import KafkaUnavailableError, TopicMismatchError
    from hub.local_kafka import LocalKafkaError

    known = (KafkaUnavailableError, TopicMismatchError, LocalKafkaError, OSError)
    if isinstance(exc, known):
        return str(exc)
    return None


if __name__ == "__main__":
    sys.exit(main())
