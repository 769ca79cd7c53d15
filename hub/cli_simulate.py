"""``trackhub simulate``: seeded journeys through the gateway, and the accuracy report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

from hub import topics
from hub.cli_support import CliError, load_settings, progress
from hub.settings import Settings
from hub.simulate.journeys import FAULTS, LANES, SimConfig
from schemas.shipments import IntegrationModel, TransportMode


def add_simulate_command(commands: argparse._SubParsersAction) -> None:
    sim = commands.add_parser(
        "simulate",
        help="send seeded cross-border journeys through the gateway; --report scores alerts",
        description="Generate journeys (lanes, modes, integration models, injected faults), "
        "send every event in its party's wire format, signed, through the gateway, register "
        "the plans on shipments.v1 and move the hub's clock window by window. The hub must "
        "run with TRACKHUB_HUB_IDLE_AFTER_S=0 and TRACKHUB_HUB_LATENESS_S of a window or "
        "more, so that only the simulator moves its clock.",
    )
    sim.add_argument("--shipments", type=int, default=40)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--lanes", default=",".join(LANES), help="comma-separated, e.g. CN-US,UK-AU")
    sim.add_argument("--modes", default="air,ocean,express,rail")
    sim.add_argument("--models", default=",".join(m.value for m in IntegrationModel))
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help=f"share of journeys with a fault ({', '.join(FAULTS)}); repeatable; "
        "--fault none turns every fault off",
    )
    sim.add_argument(
        "--peak-lanes",
        default="CN-US",
        help="lanes in peak season, legs 25%% slower (comma-separated; '' for none)",
    )
    sim.add_argument("--duplicates", type=float, default=0.05, help="share of webhooks sent twice")
    sim.add_argument("--window-hours", type=float, default=12, help="simulated hours per step")
    sim.add_argument(
        "--realtime",
        type=float,
        default=None,
        metavar="FACTOR",
        help="pace the simulation on the wall clock, FACTOR simulated seconds per second "
        "(e.g. 3600: an hour a second); default: as fast as the hub keeps up",
    )
    sim.add_argument("--gateway", default=None, help="gateway base URL (default from settings)")
    sim.add_argument("--ground-truth", type=Path, default=None, help="write expected alerts")
    sim.add_argument("--report", action="store_true", help="score the hub's alerts at the end")
    sim.add_argument("--min-precision", type=float, default=1.0)
    sim.add_argument("--min-recall", type=float, default=1.0)
    sim.add_argument("--min-attribution", type=float, default=1.0)
    sim.set_defaults(handler=cmd_simulate)


def _config(args: argparse.Namespace) -> SimConfig:
    rates = dict(SimConfig().fault_rates)
    for item in args.fault:
        if item == "none":
            rates = {}
            continue
        name, sep, rate = item.partition("=")
        if not sep or name not in FAULTS:
            raise CliError(f"--fault {item!r}: NAME=RATE with NAME one of {', '.join(FAULTS)}")
        try:
            rates[name] = float(rate)
        except ValueError:
            raise CliError(f"--fault {item!r}: the rate is a number from 0 to 1") from None
    lanes = tuple(x for x in args.lanes.split(",") if x)
    unknown = [lane for lane in lanes if lane not in LANES]
    if unknown:
        raise CliError(f"unknown lanes {unknown}; known: {', '.join(LANES)}")
    try:
        modes = tuple(TransportMode(x) for x in args.modes.split(",") if x)
        models = tuple(IntegrationModel(x) for x in args.models.split(",") if x)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.shipments < 1:
        raise CliError("--shipments must be at least 1")
    return SimConfig(
        seed=args.seed,
        shipments=args.shipments,
        lanes=lanes,
        modes=modes,
        models=models,
        fault_rates=rates,
        spread_days=2.0 if args.shipments <= 50 else 10.0,
        peak_lanes=tuple(x for x in args.peak_lanes.split(",") if x),
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    from hub.simulate.report import compare
    from hub.simulate.runner import Simulation, ground_truth
    from schemas.alerts import Alert

    settings = load_settings()
    config = _config(args)
    gateway = args.gateway or f"http://{settings.gateway_host}:{settings.gateway_port}"
    simulation = Simulation(
        settings,
        config,
        gateway,
        window=timedelta(hours=args.window_hours),
        duplicate_rate=args.duplicates,
        realtime=args.realtime,
        progress=progress,
    )
    journeys = simulation.prepare()
    faults = sum(1 for j in journeys if j.fault)
    progress(f"{len(journeys)} journeys ({faults} with a fault) through {gateway}")
    if args.ground_truth:
        args.ground_truth.write_text(json.dumps(ground_truth(journeys), indent=1) + "\n")
    start = _alert_offsets(settings)
    try:
        stats = asyncio.run(simulation.run())
    except ValueError as exc:
        raise CliError(str(exc)) from None
    formats = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_format.items()))
    print(
        f"sent {stats.deliveries} webhooks ({stats.duplicates} duplicates) in "
        f"{stats.windows} windows from {stats.started:%Y-%m-%d} to {stats.ended:%Y-%m-%d}; "
        f"by format: {formats}"
    )
    if not args.report:
        return 0
    time.sleep(2)  # the last ticks' alerts
    alerts = [Alert.model_validate_json(v) for v in _read_alerts(settings, start)]
    report = compare(alerts, journeys)
    print("\n".join(report.lines()))
    ok = (
        report.precision >= args.min_precision
        and report.recall >= args.min_recall
        and report.attribution >= args.min_attribution
    )
    if not ok:
        print("below the thresholds", file=sys.stderr)
    return 0 if ok else 1


def _alert_offsets(settings: Settings) -> dict:
    from kafka import TopicPartition

    from hub.kafka_clients import create_consumer

    consumer = create_consumer(settings, group_id=None, purpose="simulate-report")
    try:
        tps = [
            TopicPartition(topics.ALERTS, p) for p in consumer.partitions_for_topic(topics.ALERTS)
        ]
        return dict(consumer.end_offsets(tps))
    finally:
        consumer.close()


def _read_alerts(settings: Settings, start: dict) -> list[bytes]:
    from hub.kafka_clients import read_from_offsets

    read = read_from_offsets(settings, start, purpose="simulate-report")
    return [m.value for m in read if m.value is not None]
