"""A keep-alive HTTP/1.1 connection that costs the load as little CPU as we can make it.

The load shares two cores with the gateway and the broker it measures, so every
microsecond the load spends per request is taken from the system under test. aiohttp's
client costs the load about 450 µs of CPU per webhook here (its session, connector pool,
request and response objects, a task per request); this connection writes one prepared
request and parses the answer with ``httptools`` (the llhttp parser uvloop's and uvicorn's
authors maintain), about a tenth of that. One request at a time per connection, like a
carrier's sender; no pipelining.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

import httptools


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    retry_after_s: float | None  # a Retry-After in seconds, when there is one


class ConnectionClosed(ConnectionError):
    """The server closed the connection before its answer was complete."""


def request_bytes(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A ``POST`` with a Content-Length, ready to write (header values are ASCII here)."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class LeanConnection(asyncio.Protocol):
    """One TCP connection; ``exchange`` writes a request and waits for its whole answer."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[Answer] | None = None
        self._body: list[bytes] = []
        self._retry_after: float | None = None
        self._keep_alive = True

    @classmethod
    async def open(cls, host: str, port: int) -> LeanConnection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(cls, host, port)
        return connection

    @property
    def usable(self) -> bool:
        return self._transport is not None and self._keep_alive and self._answer is None

    async def exchange(self, request: bytes) -> Answer:
        """The answer to ``request``. Any failure (including a
        cancellation by the caller's timeout) leaves the connection closed."""
        if not self.usable:
            raise ConnectionClosed("connection not usable")
        assert self._transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._body = []
        self._retry_after = None
        self._transport.write(request)
        try:
            return await self._answer
        except BaseException:
            self.close()
            raise
        finally:
            self._answer = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(exc or ConnectionClosed("connection closed by the server"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            try:
                self._retry_after = float(value)
            except ValueError:
                self._retry_after = None  # an HTTP date: not one our gateway sends

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(
                Answer(self._parser.get_status_code(), b"".join(self._body), self._retry_after)
            )
        if not self._keep_alive:
            self.close()

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
