"""The ``trackhub`` command: one entry point, a subcommand per job.

Every subcommand has ``--help``; failures print one clear line on stderr (``trackhub:
error: ...``) and exit non-zero (1 for a failed job, 2 for a usage error).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
    """Broker (unless external), topics, the webhook gateway (a child process) and the
    worker (this process). Ctrl-C stops both; the broker keeps running."""
    settings = _settings()
    _prepare_kafka(settings)
    gateway = subprocess.Popen([sys.executable, "-m", "hub.cli", "gateway"])
    try:
        from hub.worker import run_worker

        return run_worker(settings)
    finally:
        _stop_child(gateway)


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    _prepare_kafka(settings)
    from hub.worker import run_worker

    return run_worker(settings)


def cmd_gateway(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        settings.effective_sources()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    from connectors.gateway import run_gateway

    run_gateway(settings)
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.pollers:
        raise CliError("no pollers configured: set TRACKHUB_POLLERS (see the README)")
    import asyncio

    from connectors.pollers import run_pollers

    try:
        asyncio.run(run_pollers(settings))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return 0


def _prepare_kafka(settings: Settings) -> None:
    from hub.kafka_clients import ensure_topics

    if settings.uses_local_broker:
        from hub import local_kafka

        local_kafka.start(settings, progress=_progress)
    report = ensure_topics(settings)
    if report.created:
        _progress(f"created topics: {', '.join(report.created)}")


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# --- connectors --------------------------------------------------------------------------


def cmd_sources(args: argparse.Namespace) -> int:
    settings = _settings()
    from connectors.registry import get_connector

    try:
        sources = settings.effective_sources()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    rows = [("SOURCE", "FORMAT", "SIGNATURE", "SECRETS", "CONTENT TYPES")]
    for name, config in sorted(sources.items()):
        connector = get_connector(config.format)
        rows.append(
            (
                name,
                config.format,
                connector.signature.value,
                str(len(config.secrets)) if config.secrets else "none (closed)",
                ", ".join(sorted(connector.content_types)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    return 0


def cmd_normalize(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from connectors.base import ConnectorError
    from connectors.registry import get_connector
    from schemas.events import RawEnvelope

    settings = _settings()
    try:
        sources = settings.effective_sources()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.source not in sources:
        raise CliError(f"unknown source {args.source!r}; see `trackhub sources`")
    connector = get_connector(sources[args.source].format)
    body = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    try:
        raw = RawEnvelope.from_body(
            body=body,
            source=args.source,
            format=connector.name,
            reference=args.file.name if str(args.file) != "-" else "stdin",
            received_at=datetime.now(UTC),
            content_type=args.content_type or sorted(connector.content_types)[0],
            signature_verified=False,
            via="file",
        )
    except ValidationError as exc:
        raise CliError(f"cannot wrap {args.file}: {exc.errors()[0]['msg']}") from None
    try:
        events = connector.parse(raw)
    except ConnectorError as exc:
        raise CliError(f"{exc.error_type}: {exc}") from None
    for event in events:
        print(event.model_dump_json())
    _progress(f"{len(events)} event(s) from {args.file} as {connector.name}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from hub.replay import ReplayStart, ReplayStartError, replay_raw_log

    settings = _settings()
    try:
        start = ReplayStart.parse(args.start)
    except ReplayStartError as exc:
        raise CliError(str(exc)) from None
    report = replay_raw_log(
        settings, start, source=args.source, dry_run=args.dry_run, progress=_progress
    )
    verb = "would write" if args.dry_run else "wrote"
    print(
        f"replayed {report.records} raw records ({report.skipped_other_sources} of other "
        f"sources skipped): {verb} {report.events} events and {report.dead_letters} dead letters"
    )
    return 0


def _offline_run(args: argparse.Namespace) -> tuple[Any, int, int]:
    """Load --plans and --events and run the detectors to --now: (result, plans, events)."""
    from hub.offline import InputFileError, load_events, load_plans, run_offline

    try:
        plans, events = load_plans(args.plans), load_events(args.events)
    except InputFileError as exc:
        raise CliError(str(exc)) from None
    return run_offline(plans, events, now=args.now), len(plans), len(events)


def cmd_detect(args: argparse.Namespace) -> int:
    from hub.offline import alert_row

    result, plans, events = _offline_run(args)
    for alert in result.alerts:
        print(json.dumps(alert_row(alert)))
    parking = result.engine.parking
    unclaimed = len(result.engine.unclaimed) + len(parking.events.keys() - parking.claimed)
    _progress(
        f"{len(result.alerts)} alert(s) from {events} event(s) over {plans} plan(s)"
        + (f"; {unclaimed} event(s) matched no plan" if unclaimed else "")
    )
    return 0


def cmd_scorecard(args: argparse.Namespace) -> int:
    from hub.scorecard import build_scorecards

    result, _, _ = _offline_run(args)
    cards = build_scorecards(result.engine.states.values())
    if args.json:
        for card in cards:
            print(json.dumps(card.row()))
        return 0
    header = ("LANE", "PARTY", "ROLE", "SHIPMENTS", "ON TIME", "BREACHES", "P50 H", "P90 H")
    table = [header] + [
        (
            c.lane,
            c.party_id,
            c.party_role,
            str(len(c.shipments)),
            "-" if c.on_time_pct is None else f"{c.on_time_pct}% of {c.legs_judged}",
            ", ".join(f"{rule} {n}" for rule, n in sorted(c.breaches.items())) or "-",
            _hours_text(c.duration_quantile(0.5)),
            _hours_text(c.duration_quantile(0.9)),
        )
        for c in cards
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    return 0


def cmd_plans_register(args: argparse.Namespace) -> int:
    from hub.hub_control import register_plans
    from hub.offline import InputFileError, load_plans

    settings = _settings()
    try:
        plans = load_plans(args.file)
    except InputFileError as exc:
        raise CliError(str(exc)) from None
    count = register_plans(settings, plans)
    _progress(f"registered {count} plan(s) on shipments.v1")
    return 0


def cmd_clock(args: argparse.Namespace) -> int:
    from hub.hub_control import advance_clock

    advance_clock(_settings(), args.to)
    _progress(f"hub clock moved to {args.to.isoformat()}")
    return 0


def _hours_text(value: timedelta | None) -> str:
    return "-" if value is None else f"{value.total_seconds() / 3600:.1f}"


def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time with its UTC offset: {text!r}")
    return moment


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

    commands.add_parser(
        "worker",
        help="run the hub's stream workers only (normalize, ...)",
        description="Run the faust worker: tracking.raw.v1 -> tracking.events.v1 / DLQ.",
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
        "--now", type=_aware_time, default=None, help="end time (default: the latest event)"
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
        "--now", type=_aware_time, default=None, help="end time (default: the latest event)"
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
    clock.add_argument("--to", type=_aware_time, required=True, help="ISO time with offset")
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
