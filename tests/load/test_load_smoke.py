"""CI smoke of the load profile (``tests.load.run``), short and at a modest rate.

The same code as the ten-minute run: a real ``trackhub gateway`` process on the session's
broker, open-loop load over every registered source in its own format and signing scheme,
10 s steady then one 5x burst, against a gateway that takes 3 webhooks at once (a 202
takes 5-10 ms, so 300-600/s), so the burst is shed in part. It proves nothing is lost
(every 202 is on tracking.raw.v1, exactly once), every delivery ends with a 202 (shed
ones after their Retry-After), and the gateway's memory stays bounded through the burst.
Latency targets are the full run's business: a shared CI machine makes them noise at
this length.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registry import connector_names
from tests.load.profile import ProfileConfig, run_profile
from tests.load.run import BURST_RSS_HEADROOM_MIB

pytestmark = pytest.mark.integration  # a real broker and real processes

SMOKE = ProfileConfig(
    rate=100,
    steady_s=10,
    burst_factor=5,
    burst_s=3,
    pause_s=2,
    bursts=1,
    warmup_s=1,
    connections=64,
    max_in_flight=3,
    gateways=1,
)


def test_the_load_profile_loses_nothing_and_memory_stays_bounded(
    kafka_env: dict[str, str], tmp_path: Path
) -> None:
    report = run_profile(kafka_env, SMOKE, tmp_path)
    print("\n".join(report.lines()))

    assert sorted(report.sources) == sorted(f"load-{name}" for name in connector_names())
    requested = sum(int(p.rate * p.seconds) for p in SMOKE.phases())
    assert requested == 2_800  # 1 s + 10 s at 100/s, 3 s at 500/s, 2 s at 100/s
    assert report.not_accepted == 0, report.lines()
    assert report.figures["burst"].statuses.get(503, 0) > 0, "the burst was never shed"
    assert report.raw.accepted == requested  # one distinct envelope per delivery
    assert report.raw.lost == 0
    assert report.raw.found == requested
    assert report.raw.duplicates == 0
    assert len(report.figures["steady"].window_p99_ms) == 2  # the timeline: 10 s in 5 s windows

    steady = report.figures["steady"].rss_max_mib
    assert report.figures["burst"].rss_max_mib <= steady + BURST_RSS_HEADROOM_MIB
    assert report.rss_end_mib <= steady + BURST_RSS_HEADROOM_MIB
