"""A poller against a fake provider on loopback, writing to the real raw log."""

from __future__ import annotations

import json
import random
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
