"""``/metrics``, ``/healthz`` and ``/readyz``: the endpoints every hub process serves.

- ``/healthz``: the process is alive and its event loop answers (no dependency checked:
  a liveness probe that fails on a Kafka outage only restarts healthy pods).
- ``/readyz``: 200 when the process can do its job now (connected to Kafka, caught up
  enough to serve), else 503; either way a JSON body names each check and its state.
- ``/metrics``: Prometheus text format of the process's registry.

The gateway adds these routes to its own app; a worker serves them from a small aiohttp
server of its own (``OpsServer``) on ``TRACKHUB_WORKER_HTTP_PORT``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One readiness condition: its name, whether it holds, and a short safe detail."""

    name: str
    ok: bool
    detail: str = ""


ReadinessProbe = Callable[[], Awaitable[list[Check]]]

READINESS = web.AppKey("readiness", ReadinessProbe)  # type: ignore[type-abstract]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        checks = await request.app[READINESS]()
    except Exception:  # a probe that fails is a "not ready", never a 500
        log.exception("readiness probe failed")
        checks = [Check("probe", False, "readiness probe failed; see the process log")]
    ready = all(check.ok for check in checks)
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(REGISTRY))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def add_ops_routes(app: web.Application, readiness: ReadinessProbe) -> None:
    app[READINESS] = readiness
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


class OpsServer:
    """The ops endpoints on their own port, for processes that serve no other HTTP."""

    def __init__(self, host: str, port: int, readiness: ReadinessProbe) -> None:
        self._host = host
        self._port = port
        self._app = web.Application()
        add_ops_routes(self._app, readiness)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port, once started

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # aiohttp keeps the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("metrics and probes on http://%s:%d/metrics", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
