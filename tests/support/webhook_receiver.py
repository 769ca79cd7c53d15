"""A seller's webhook endpoint for tests: an aiohttp server on loopback that records every
request and answers as the test says (a status, a response, or an awaitable of either,
e.g. one that hangs until the test ends)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

Answer = Callable[[web.Request], object]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (recorded once it has answered)
    at: float  # time.monotonic() of arrival

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


class WebhookReceiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answer: Answer = lambda request: 204
        self.release = asyncio.Event()  # set by stop(): frees handlers that hang
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answered(self, status: int | None = None) -> list[Received]:
        return [r for r in self.requests if status is None or r.status == status]

    async def hang(self) -> web.Response:
        """An answer that never comes while the test runs."""
        await self.release.wait()
        return web.Response(status=503)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.read()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = self.answer(request)
            if inspect.isawaitable(answer):
                answer = await answer
        finally:
            self.in_flight -= 1
        if not isinstance(answer, web.StreamResponse):
            answer = web.Response(status=int(answer))  # type: ignore[call-overload]
        self.requests.append(
            Received(request.path, dict(request.headers), body, answer.status, arrived)
        )
        return answer


async def wait_until(
    check: Callable[[], object], what: str, timeout_s: float = 20.0, every_s: float = 0.05
) -> None:
    """Poll ``check`` (on the event loop) until it is truthy; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(every_s)
