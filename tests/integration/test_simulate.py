"""The simulator through the real path: signed webhooks in every wire format through the
gateway, plans on shipments.v1, a hub worker on event time driven by the simulator's
clock; the alerts on alerts.v1 must be exactly the ground truth (precision, recall and
party attribution 100% on a seeded run)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from connectors.gateway import create_gateway_app
from connectors.registry import connector_names
from hub.settings import Settings, SourceConfig
from hub.simulate.journeys import SimConfig
from hub.simulate.report import compare
from hub.simulate.runner import Simulation
from schemas.alerts import Alert
from schemas.shipments import TransportMode
from tests.support.fault_journeys import EVERY_FAULT_RATES
from tests.support.hub_worker import start_worker, stop_worker
from tests.support.kafka_reading import end_offsets, read_since

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"simulated-sources-test-secret-32b").decode()


def sim_settings(base: Settings) -> Settings:
    sources = {
        f"sim-{name}": SourceConfig(format=name, secrets=[SECRET]) for name in connector_names()
    }
    return Settings(**(base.model_dump() | {"sources": sources}))


@pytest_asyncio.fixture
async def gateway(kafka_settings: Settings) -> AsyncIterator[str]:
    server = TestServer(create_gateway_app(sim_settings(kafka_settings)), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_a_seeded_simulation_scores_100_percent(
    kafka_settings: Settings, cli_env: dict[str, str], gateway: str
) -> None:
    from hub import topics

    settings = sim_settings(kafka_settings)
    config = SimConfig(
        seed=int(os.environ.get("TRACKHUB_SIM_SEED", "20261125")),
        shipments=16,
        modes=(TransportMode.AIR, TransportMode.EXPRESS, TransportMode.OCEAN),
        spread_days=2.0,
        fault_rates=dict(EVERY_FAULT_RATES),
    )
    start = end_offsets(kafka_settings, topics.ALERTS)
    worker = start_worker(cli_env, hub_idle_after_s="0", hub_lateness_s=str(365 * 86400))
    try:
        simulation = Simulation(settings, config, gateway, window=timedelta(hours=48))
        journeys = simulation.prepare()
        assert sum(1 for j in journeys if j.fault) >= 6
        stats = await simulation.run()
        assert stats.duplicates > 0
        assert len(stats.by_format) >= 5, stats.by_format  # real wire formats, not one
        time.sleep(2)
        alerts = [Alert.model_validate_json(v) for v in read_since(kafka_settings, start)]
        report = compare(alerts, journeys)
        assert report.unexpected == [] and report.missing == [], "\n".join(report.lines())
        assert report.precision == report.recall == report.attribution == 1.0
        assert worker.poll() is None, "the worker died"
    finally:
        stop_worker(worker)


async def test_realtime_paces_the_simulation_on_the_wall_clock(
    kafka_settings: Settings, cli_env: dict[str, str], gateway: str
) -> None:
    """``--realtime FACTOR``: simulated time runs FACTOR times faster than the wall clock,
    no faster even when the hub keeps up."""
    settings = sim_settings(kafka_settings)
    config = SimConfig(seed=99, shipments=2, modes=(TransportMode.EXPRESS,), fault_rates={})
    worker = start_worker(cli_env, hub_idle_after_s="0", hub_lateness_s=str(365 * 86400))
    try:
        simulation = Simulation(settings, config, gateway, window=timedelta(hours=6))
        simulation.prepare()
        began = time.monotonic()
        deliveries_span = max(j.ends_at for j in simulation.journeys) - min(
            j.register_at for j in simulation.journeys
        )
        simulation.realtime = deliveries_span.total_seconds() / 12  # about 12 s of wall time
        stats = await simulation.run()
        elapsed = time.monotonic() - began
        span = (stats.ended - stats.started).total_seconds() / simulation.realtime
        assert elapsed >= span * 0.9, (elapsed, span)
        assert stats.deliveries > 0
    finally:
        stop_worker(worker)
