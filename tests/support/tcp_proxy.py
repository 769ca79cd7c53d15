"""A TCP proxy on loopback that a fault test puts between Kafka clients and the broker.

It forwards bytes both ways and, on command, hurts the network the way real ones fail:

- ``set_latency(s)``: every chunk is delivered ``s`` seconds after it was read, in order
  (a slow or distant link; throughput is not capped);
- ``reset_all()``: every open connection is aborted with a TCP RST on both sides
  (``SO_LINGER`` 0), as a crashed middlebox or a NAT dropping its table does;
- ``blackhole()`` / ``heal()``: forwarding stops without closing anything: connections
  stay open, bytes stay in the kernel's buffers, a new connection is accepted but not
  connected onwards (half-open: the client sees an open socket that never answers); on
  ``heal`` everything flows again, as TCP does once a partition ends, or, with
  ``heal(abandon_stalled=True)``, only new connections do: the stalled ones stay open
  and silent for good, and each client has to find that out by itself.

``broker_behind_proxy`` starts a private broker that *advertises* the proxy's port, so
clients that learn the broker's address from metadata (every Kafka client) keep going
through the proxy rather than around it.

The proxy runs its own event loop in a daemon thread, so a test's blocking code and its
own event loop both leave it serving; the control methods are thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.private_broker import PrivateBroker, free_port, private_broker

CHUNK = 64 * 1024


@dataclass(eq=False)
class _Connection:
    """One client connection and its upstream twin; closed once both directions end."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    open_directions: int = 2
    abandoned: bool = False  # a dead path: reads are swallowed, nothing is ever forwarded

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.upstream) if w is not None]


class TcpProxy:
    """``127.0.0.1:<port>`` -> ``upstream``; see the module docstring for the faults."""

    def __init__(self, upstream_port: int, port: int = 0, upstream_host: str = "127.0.0.1"):
        self.port = port or free_port()
        self._upstream = (upstream_host, upstream_port)
        self._latency_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.accepted = 0  # connections accepted so far
        self.resets = 0  # connections aborted by reset_all

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen()).result(timeout=10)
        return self

    def close(self) -> None:
        """Stop listening, abort every connection, end the thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown()).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def set_latency(self, seconds: float) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_latency_s", seconds)

    def reset_all(self) -> int:
        """RST every open connection (both sides); returns how many there were."""
        return self._call(self._reset_all()).result(timeout=10)

    def blackhole(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def heal(self, *, abandon_stalled: bool = False) -> None:
        """Forward again: no more latency, no black hole. With ``abandon_stalled`` the
        connections caught in the black hole never carry a byte again (half-open for
        good, as after a NAT or firewall forgot them): only new connections work, so
        each client must notice its dead connection by itself."""
        self.set_latency(0.0)
        self._loop.call_soon_threadsafe(self._heal, abandon_stalled)

    def _heal(self, abandon_stalled: bool) -> None:
        if abandon_stalled:
            for connection in self._connections:
                connection.abandoned = True
        self._flowing.set()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def _call(self, coroutine: object) -> Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()

    async def _reset_all(self) -> int:
        connections = list(self._connections)
        for connection in connections:
            for writer in connection.writers():
                _abort_with_rst(writer)
            for task in connection.tasks:
                task.cancel()
        self._connections.clear()
        self.resets += len(connections)
        return len(connections)

    async def _serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter):
        self.accepted += 1
        connection = _Connection(client)
        self._connections.add(connection)
        try:
            await self._flowing.wait()  # half-open: accepted, not connected onwards
            if connection.abandoned:
                while await client_reader.read(CHUNK):
                    pass  # swallowed until the client gives up
                raise ConnectionAbortedError
            upstream_reader, upstream = await asyncio.open_connection(*self._upstream)
        except (OSError, asyncio.CancelledError):
            self._close(connection)
            return
        if connection not in self._connections:  # reset while connecting
            upstream.close()
            return
        connection.upstream = upstream
        connection.tasks = [
            asyncio.create_task(self._pipe(client_reader, upstream, connection)),
            asyncio.create_task(self._pipe(upstream_reader, client, connection)),
        ]

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        """One direction: read chunks and hand them to a delivery task, which holds each
        until its time; at end of stream, what was read still goes out, then a half-close."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        deliver = asyncio.create_task(self._deliver(queue, writer, connection))
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                if connection.abandoned:
                    continue
                queue.put_nowait((time.monotonic() + self._latency_s, data))
            queue.put_nowait(None)
            await deliver
        except (OSError, asyncio.CancelledError):
            deliver.cancel()
            self._close(connection)
            return
        connection.open_directions -= 1
        if connection.open_directions == 0:
            self._close(connection)

    async def _deliver(
        self,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        writer: asyncio.StreamWriter,
        connection: _Connection,
    ) -> None:
        try:
            while (item := await queue.get()) is not None:
                due, data = item
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._flowing.wait()
                if connection.abandoned:
                    continue
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:  # the receiving side is gone: so is the connection
            self._close(connection)

    def _close(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        for writer in connection.writers():
            writer.close()
        for task in connection.tasks:
            if task is not asyncio.current_task():
                task.cancel()


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(frozen=True)
class ProxiedBroker:
    """A private broker reachable only through ``proxy``: ``env`` aims a process at it
    through the proxy (bootstrap and advertised address both on the proxy's port)."""

    broker: PrivateBroker
    proxy: TcpProxy

    @property
    def env(self) -> dict[str, str]:
        return self.broker.env | {"TRACKHUB_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.proxy.port}"}


@contextmanager
def broker_behind_proxy(name: str, partitions: int | None = None) -> Iterator[ProxiedBroker]:
    """A fresh private broker advertising a proxy's port; the proxy starts first (the
    broker's own start-up probe already goes through it) and closes last."""
    broker_port = free_port()
    proxy = TcpProxy(upstream_port=broker_port).start()
    try:
        settings = {
            "TRACKHUB_KAFKA_PORT": str(broker_port),
            "TRACKHUB_KAFKA_ADVERTISED_PORT": str(proxy.port),
        }
        with private_broker(name, partitions, settings) as broker:
            yield ProxiedBroker(broker, proxy)
    finally:
        proxy.close()
