"""``trackhub`` subcommands over data: sources, one payload normalized, the raw log
replayed, detection and scorecards over files, plans registered, the hub clock moved."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from hub.cli_support import CliError, hours_text, load_settings, load_sources, progress


def cmd_sources(args: argparse.Namespace) -> int:
    settings = load_settings()
    from connectors.registry import get_connector

    sources = load_sources(settings)
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

    settings = load_settings()
    sources = load_sources(settings)
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
    progress(f"{len(events)} event(s) from {args.file} as {connector.name}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from hub.replay import ReplayStart, ReplayStartError, replay_raw_log

    settings = load_settings()
    try:
        start = ReplayStart.parse(args.start)
    except ReplayStartError as exc:
        raise CliError(str(exc)) from None
    report = replay_raw_log(
        settings, start, source=args.source, dry_run=args.dry_run, progress=progress
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
    progress(
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
            hours_text(c.duration_quantile(0.5)),
            hours_text(c.duration_quantile(0.9)),
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

    settings = load_settings()
    try:
        plans = load_plans(args.file)
    except InputFileError as exc:
        raise CliError(str(exc)) from None
    count = register_plans(settings, plans)
    progress(f"registered {count} plan(s) on shipments.v1")
    return 0


def cmd_clock(args: argparse.Namespace) -> int:
    from hub.hub_control import advance_clock

    advance_clock(load_settings(), args.to)
    progress(f"hub clock moved to {args.to.isoformat()}")
    return 0
