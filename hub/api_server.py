"""``trackhub api``: the seller API process.

Wires ``hub.api.create_api_app`` to the real parts: the SQLite read model and the thread
that projects Kafka into it, an idempotent aiokafka producer for writes (acks=all; a
write answers only once acknowledged), the SSE fan-out, the SSRF check of subscription
URLs, and ``/metrics``, ``/healthz``, ``/readyz`` on the same port. Ready means the read
model has caught up with the topics as they were when the process started.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from hub.api import create_api_app
from hub.api_http import ApiError, KafkaWriteError
from hub.api_projector import Projector
from hub.api_store import ApiStore, LoggedAlert
from hub.api_stream import AlertBroadcaster
from hub.kafka_clients import create_async_producer
from hub.ops_http import Check, add_ops_routes
from hub.settings import Settings

log = logging.getLogger("trackhub.api")


def api_db_path(settings: Settings) -> Path:
    return settings.api_db or settings.state_dir / "api" / "read.db"


def build_api(settings: Settings) -> web.Application:
    store = ApiStore(api_db_path(settings))
    broadcaster = AlertBroadcaster()
    producer_box: dict[str, object] = {}
    loop_box: dict[str, asyncio.AbstractEventLoop] = {}

    def on_alerts(alerts: list[LoggedAlert]) -> None:  # projector thread
        loop = loop_box.get("loop")
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(broadcaster.publish, alerts)

    projector = Projector(settings, store, on_alerts)

    async def publish(topic: str, key: bytes, value: bytes | None) -> None:
        producer = producer_box.get("producer")
        if producer is None:
            raise KafkaWriteError("producer not started")
        try:
            await asyncio.wait_for(
                producer.send_and_wait(topic, value, key=key),  # type: ignore[attr-defined]
                timeout=settings.gateway_kafka_timeout_s,
            )
        except Exception as exc:
            log.warning("write to %s failed: %s", topic, type(exc).__name__)
            raise KafkaWriteError(str(exc)) from None

    async def url_check(url: str) -> None:
        from hub.ssrf import UnsafeUrlError, check_subscription_url

        try:
            await check_subscription_url(url, settings)
        except UnsafeUrlError as exc:
            raise ApiError(422, "unsafe_url", str(exc)) from None

    app = create_api_app(settings, store, publish, broadcaster, url_check)

    async def readiness() -> list[Check]:
        failed = projector.failed
        return [
            Check(
                "read_model",
                projector.caught_up.is_set() and failed is None,
                "caught up"
                if projector.caught_up.is_set()
                else "catching up with Kafka"
                if failed is None
                else "projector stopped; see the log",
            ),
            Check("producer", "producer" in producer_box),
        ]

    add_ops_routes(app, readiness)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        loop_box["loop"] = asyncio.get_running_loop()
        producer = create_async_producer(settings, purpose="api")
        projector.start()
        try:
            await producer.start()
            producer_box["producer"] = producer
        except Exception:
            log.exception("Kafka producer did not start; writes will answer 503")
        yield
        producer_box.pop("producer", None)
        await producer.stop()
        await asyncio.get_running_loop().run_in_executor(None, projector.stop)
        store.close()

    async def end_streams(app: web.Application) -> None:
        broadcaster.close_all()  # else shutdown waits for every open SSE stream

    app.on_shutdown.append(end_streams)
    app.cleanup_ctx.append(lifecycle)
    return app


def run_api(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM."""
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    app = build_api(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.api_host, settings.api_port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else settings.api_port
    log.info(
        "seller API listening on http://%s:%d/v1 (OpenAPI: /v1/openapi.json)",
        settings.api_host,
        port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
