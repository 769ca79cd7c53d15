"""``trackhub`` subcommands that run or manage processes: the broker, the workers, the
gateway, the pollers, and the JSON Schema export."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from hub.cli_support import (
    CliError,
    load_settings,
    load_sources,
    prepare_kafka,
    progress,
    stop_child,
)


def cmd_kafka_up(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.uses_local_broker:
        raise CliError(
            f"TRACKHUB_KAFKA_BOOTSTRAP is set ({settings.kafka_bootstrap}): the project does "
            "not start a local broker; unset it to use the local one"
        )
    from hub import local_kafka
    from hub.kafka_clients import ensure_topics

    started = time.monotonic()
    status = local_kafka.start(settings, progress=progress)
    report = ensure_topics(settings)
    elapsed = time.monotonic() - started
    if report.created:
        progress(f"created topics: {', '.join(report.created)}")
    progress(f"broker ready in {elapsed:.1f}s (pid {status.pid}, log {status.log_file})")
    print(settings.bootstrap_servers)
    return 0


def cmd_kafka_status(args: argparse.Namespace) -> int:
    settings = load_settings()
    from hub import local_kafka

    if not settings.uses_local_broker:
        print(f"external cluster: {settings.kafka_bootstrap} (TRACKHUB_KAFKA_BOOTSTRAP)")
        return 0
    status = local_kafka.status(settings)
    print(status.describe())
    return 0 if status.running and status.answering else 3


def cmd_kafka_down(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.uses_local_broker:
        raise CliError("TRACKHUB_KAFKA_BOOTSTRAP is set: the project does not run that cluster")
    from hub import local_kafka

    stopped = local_kafka.stop(settings, progress=progress)
    progress("broker stopped" if stopped else "no local broker was running")
    return 0


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
        progress(f"JSON Schema files in {out_dir} match the models")
        return 0
    for path in export_json_schemas(out_dir):
        print(path)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Broker (unless external), topics, the webhook gateway, the seller API and the alert
    delivery (child processes) and the worker (this process). Ctrl-C stops them all; the
    broker keeps running."""
    settings = load_settings()
    prepare_kafka(settings)
    children = [
        subprocess.Popen([sys.executable, "-m", "hub.cli", name])
        for name in ("gateway", "api", "deliver")
    ]
    try:
        from hub.worker import run_worker

        return run_worker(settings)
    finally:
        for child in children:
            stop_child(child)


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    prepare_kafka(settings)
    from hub.worker import run_worker

    return run_worker(settings)


def cmd_gateway(args: argparse.Namespace) -> int:
    settings = load_settings()
    load_sources(settings)  # a bad TRACKHUB_SOURCES fails here, in one line
    from connectors.gateway import run_gateway

    run_gateway(settings)
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.pollers:
        raise CliError("no pollers configured: set TRACKHUB_POLLERS (see the README)")
    import asyncio

    from connectors.pollers import run_pollers

    try:
        asyncio.run(run_pollers(settings))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return 0
