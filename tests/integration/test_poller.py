"""A poller against a fake provider on loopback, writing to the real raw log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.pollers import Poller
from connectors.polling import CursorStore
from connectors.raw_log import RawLogWriter
from hub import topics
from hub.settings import PollerConfig, Settings
from schemas.events import RawEnvelope
from tests.support.kafka_reading import end_offsets, read_since

PAGES = {
    None: ([{"eventID": "e1"}, {"eventID": "e2"}], "c2"),
    "c2": ([{"eventID": "e3"}], "c3"),
    "c3": ([{"eventID": "e4"}], None),
}


class FakeProvider:
    """Serves PAGES with the DCSA cursor convention; fails the way real APIs do, once."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.failures = {"c2": (429, {"Retry-After": "3"}), "c3": (503, {})}

    async def events(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        self.requests.append(params | {"api-key": request.headers.get("API-Key", "")})
        if request.headers.get("API-Key") != "k-123":
            return web.json_response({"message": "unauthorized"}, status=401)
        cursor = params.get("cursor")
        failure = self.failures.pop(cursor, None) if cursor else None
        if failure:
            return web.json_response(
                {"message": "slow down"}, status=failure[0], headers=failure[1]
            )
        items, next_cursor = PAGES[cursor]
        headers = {"Next-Page-Cursor": next_cursor} if next_cursor else {}
        return web.json_response(items, headers=headers)


def _config(url: str, key: str = "k-123") -> PollerConfig:
    return PollerConfig(
        source="dcsa-fake",
        url=url,
        page_size=2,
        max_requests_per_s=50,
        headers={"API-Key": key},
    )


async def test_poller_pages_retries_and_resumes_from_its_cursor(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    provider = FakeProvider()
    app = web.Application()
    app.router.add_get("/v2/events", provider.events)
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    start = end_offsets(kafka_settings, topics.RAW)
    raw_log = RawLogWriter(kafka_settings, purpose="test-poller")
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/v2/events"))
        cursors = CursorStore(tmp_path / "cursors")
        poller = Poller(
            _config(url),
            "dcsa",
            raw_log,
            cursors,
            session,
            sleep=record_sleep,
            rng=random.Random(3),
        )
        report = await poller.poll_once()
        assert (report.pages, report.envelopes, report.retries, report.gave_up) == (3, 3, 2, None)
        assert 3.0 in sleeps  # the provider's Retry-After, honoured exactly
        assert cursors.load("dcsa-fake") == "c3"
        assert [r.get("cursor") for r in provider.requests] == [None, "c2", "c2", "c3", "c3"]
        assert all(r["limit"] == "2" for r in provider.requests)

        envelopes = [
            e
            for e in map(RawEnvelope.model_validate_json, read_since(kafka_settings, start))
            if e.source == "dcsa-fake"
        ]
        bodies = sorted(json.loads(e.body)[0]["eventID"] for e in envelopes)
        assert bodies == ["e1", "e3", "e4"]
        assert {(e.format, e.via, e.signature_verified) for e in envelopes} == {
            ("dcsa", "poll", False)
        }

        # a new poller process resumes at the saved cursor instead of starting over
        provider.requests.clear()
        again = Poller(
            _config(url),
            "dcsa",
            raw_log,
            CursorStore(tmp_path / "cursors"),
            session,
            sleep=record_sleep,
        )
        await again.poll_once()
        assert [r.get("cursor") for r in provider.requests] == ["c3"]

        # a non-retryable answer stops the cycle with a reason instead of hammering
        denied = Poller(
            _config(url, key="wrong"),
            "dcsa",
            raw_log,
            CursorStore(tmp_path / "other"),
            session,
            sleep=record_sleep,
        )
        report = await denied.poll_once()
        assert report.gave_up == "HTTP 401" and report.envelopes == 0
    await raw_log.close()


async def test_the_poll_process_serves_probes_and_counts_its_cycles(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """``run_pollers`` (what ``trackhub poll`` runs): /readyz once the raw log answers,
    /metrics with cycles by outcome, pages, and when the source last gave us a payload."""
    from prometheus_client.parser import text_string_to_metric_families

    from hub.settings import SourceConfig
    from tests.conftest import _free_port
    from tests.support.prom import sample_value

    provider = FakeProvider()
    provider.failures.clear()
    app = web.Application()
    app.router.add_get("/v2/events", provider.events)
    port = _free_port()
    async with TestServer(app, host="127.0.0.1") as server:
        config = _config(str(server.make_url("/v2/events"))).model_copy(update={"interval_s": 0.2})
        settings = Settings(
            **(
                kafka_settings.model_dump()
                | {
                    "state_dir": tmp_path,
                    "sources": {"dcsa-fake": SourceConfig(format="dcsa")},
                    "pollers": [config],
                    "poller_http_port": port,
                }
            )
        )
        from connectors.pollers import run_pollers

        task = asyncio.create_task(run_pollers(settings))
        try:
            async with aiohttp.ClientSession() as session:
                base = f"http://127.0.0.1:{port}"

                async def page() -> str:
                    async with session.get(f"{base}/metrics") as answer:
                        return await answer.text()

                for _ in range(200):
                    try:
                        async with session.get(f"{base}/readyz") as ready:
                            if ready.status == 200:
                                text = await page()
                                if sample_value(
                                    text, "trackhub_polls_total", source="dcsa-fake", outcome="ok"
                                ):
                                    break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                text = await page()
                assert sample_value(text, "trackhub_polls_total", source="dcsa-fake", outcome="ok")
                assert sample_value(text, "trackhub_polled_pages_total", source="dcsa-fake") >= 3
                last = sample_value(
                    text, "trackhub_source_last_accepted_timestamp_seconds", source="dcsa-fake"
                )
                assert abs(last - time.time()) < 60
                assert list(text_string_to_metric_families(text))
                async with session.get(f"{base}/healthz") as alive:
                    assert alive.status == 200
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
