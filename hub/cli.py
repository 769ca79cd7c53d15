"""The ``trackhub`` command: one entry point, a subcommand per job.

The subcommands live in ``hub.cli_services`` (processes: broker, workers, gateway,
pollers, schema export) and ``hub.cli_data`` (sources, normalize, replay, detect,
scorecard, plans, clock); what they share is in ``hub.cli_support``.

Every subcommand has ``--help``; failures print one clear line on stderr (``trackhub:
error: ...``) and exit non-zero (1 for a failed job, 2 for a usage error).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hub.cli_data import (
    cmd_clock,
    cmd_detect,
    cmd_normalize,
    cmd_plans_register,
    cmd_replay,
    cmd_scorecard,
    cmd_sources,
)
from hub.cli_demo import add_demo_command
from hub.cli_sellers import add_seller_commands
from hub.cli_services import (
    cmd_gateway,
    cmd_kafka_down,
    cmd_kafka_status,
    cmd_kafka_up,
    cmd_poll,
    cmd_run,
    cmd_schema_export,
    cmd_worker,
)
from hub.cli_simulate import add_simulate_command
from hub.cli_support import CliError, aware_time
from hub.log_setup import configure_logging

log = logging.getLogger("trackhub")


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

    commands.add_parser(
        "worker",
        help="run the hub's stream workers only (TRACKHUB_WORKER_ROLES: normalize, hub)",
        description="Run a faust worker: normalize (tracking.raw.v1 -> tracking.events.v1 / "
        "DLQ) and the hub (resolve, shipment state, detection -> alerts.v1), or one of them.",
    ).set_defaults(handler=cmd_worker)
    commands.add_parser(
        "gateway",
        help="run the signed webhook gateway only",
        description="Serve POST /webhooks/{source} on TRACKHUB_GATEWAY_HOST:PORT; each "
        "accepted delivery is durable in tracking.raw.v1 before its 202.",
    ).set_defaults(handler=cmd_gateway)
    commands.add_parser(
        "poll",
        help="run the pollers of sources without webhooks (TRACKHUB_POLLERS)",
        description="Fetch each configured poller's pages into tracking.raw.v1 until "
        "interrupted; cursors are kept in the state folder.",
    ).set_defaults(handler=cmd_poll)
    commands.add_parser(
        "sources",
        help="list the webhook sources, their formats and whether they have secrets",
        description="List every configured source (never its secrets).",
    ).set_defaults(handler=cmd_sources)
    detect = commands.add_parser(
        "detect",
        help="run the detectors over plan and event files; print the alerts as JSON lines",
        description="Offline detection on the same engine as the workers: plans (JSON, "
        "array or lines) and events (JSON lines, any order); the clock ends at --now.",
    )
    detect.add_argument("--plans", type=Path, required=True, help="shipment plans file")
    detect.add_argument("--events", type=Path, required=True, help="TrackingEvent JSON lines")
    detect.add_argument(
        "--now", type=aware_time, default=None, help="end time (default: the latest event)"
    )
    detect.set_defaults(handler=cmd_detect)
    scorecard = commands.add_parser(
        "scorecard",
        help="per party and lane: on-time %%, breaches, leg durations (offline)",
        description="Backtest a contract on history: run the detectors over plan and "
        "event files and print each party's scorecard per lane.",
    )
    scorecard.add_argument("--plans", type=Path, required=True, help="shipment plans file")
    scorecard.add_argument("--events", type=Path, required=True, help="TrackingEvent JSON lines")
    scorecard.add_argument(
        "--now", type=aware_time, default=None, help="end time (default: the latest event)"
    )
    scorecard.add_argument("--json", action="store_true", help="JSON lines for programs")
    scorecard.set_defaults(handler=cmd_scorecard)
    plans = commands.add_parser(
        "plans", help="shipment plans", description="Shipment plans on shipments.v1."
    )
    plan_commands = plans.add_subparsers(dest="plans_command", metavar="ACTION", required=True)
    register = plan_commands.add_parser(
        "register",
        help="publish plans from a file (JSON, array or lines) to shipments.v1",
        description="Validate and publish shipment plans; a higher revision replaces a lower.",
    )
    register.add_argument("file", type=Path, help="plans file")
    register.set_defaults(handler=cmd_plans_register)
    clock = commands.add_parser(
        "clock",
        help="move the running hub's clock forward (fake clock for tests and simulations)",
        description="Advance every hub partition's watermark to --to; deadlines up to it "
        "fire. It never moves backwards.",
    )
    clock.add_argument("--to", type=aware_time, required=True, help="ISO time with offset")
    clock.set_defaults(handler=cmd_clock)
    replay = commands.add_parser(
        "replay",
        help="re-normalize tracking.raw.v1 from a time or offset (after a mapper fix)",
        description="Read tracking.raw.v1 from --from up to its current end and write the "
        "events and dead letters again (ids are deterministic: duplicates collapse).",
    )
    replay.add_argument(
        "--from",
        dest="start",
        required=True,
        help="ISO time with offset, an offset for every partition, "
        "partition:offset[,partition:offset...], or 'earliest'",
    )
    replay.add_argument("--source", default=None, help="only envelopes of this source")
    replay.add_argument("--dry-run", action="store_true", help="count, write nothing")
    replay.set_defaults(handler=cmd_replay)
    normalize = commands.add_parser(
        "normalize",
        help="print the normalized events of one payload file as JSON lines",
        description="Parse one payload with a source's connector and print its events as "
        "JSON lines; bad input exits 1 with the connector's error on stderr.",
    )
    normalize.add_argument("--source", required=True, help="source name (see `trackhub sources`)")
    normalize.add_argument("--content-type", default=None, help="override the content type")
    normalize.add_argument("file", type=Path, help="payload file, or - for stdin")
    normalize.set_defaults(handler=cmd_normalize)

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

    add_seller_commands(commands)
    add_simulate_command(commands)
    add_demo_command(commands)

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
    """Read before ``Settings`` so that a bad configuration is itself reported properly."""
    configure_logging(
        os.environ.get("TRACKHUB_LOG_LEVEL", "INFO"),
        "json" if os.environ.get("TRACKHUB_LOG_FORMAT", "").lower() == "json" else "text",
    )


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
