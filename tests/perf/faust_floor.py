"""The floor of a faust worker on this machine: agents that do no work at all.

    python -m tests.perf.faust_floor normalize --fanout 4   # (run by the benchmarks)
    python -m tests.perf.faust_floor hub

Each mode is the hub's own agent shape with the logic taken out, on the hub's app class
(``HubApp``: idempotent producer, acks=all, guarded commits) and its producer call:

- ``normalize``: reads ``tracking.raw.v1`` and writes the first ``--value-bytes`` of each
  record ``--fanout`` times to ``bench.floor.v1`` (the normalizer without parsing: one
  envelope, N events of an event's size).
- ``hub``: reads ``tracking.events.v1``, repartitions each record through
  ``bench.floor-repartition.v1`` and stores it in a changelogged table keyed by its key
  (resolution, repartition and shipment state without identity, state or detection).

No real agent can be faster than these on the same broker and machine, so the benchmarks
print them beside the real figures: they say how much of a target the framework leaves.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import faust

from hub import topics
from hub.app import HubApp, _bytes_topic, new_app
from hub.settings import Settings
from hub.worker import HubWorker

FLOOR_TOPIC = "bench.floor.v1"
REPARTITION_TOPIC = "bench.floor-repartition.v1"
FLOOR_GROUP = "trackhub-floor"
FLOOR_CHANGELOG = f"{FLOOR_GROUP}-floor-state-changelog"  # one record per table write


def create_floor_app(settings: Settings, mode: str, fanout: int, value_bytes: int) -> HubApp:
    app = new_app(FLOOR_GROUP, settings, settings.state_dir.resolve() / "faust-floor")
    if mode == "normalize":
        _declare_normalize(app, fanout, value_bytes)
    else:
        _declare_hub(app)
    return app


def _declare_normalize(app: HubApp, fanout: int, value_bytes: int) -> None:
    @app.agent(_bytes_topic(app, topics.RAW), name="floor-normalize")
    async def forward(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            value = record.value[:value_bytes]  # an event's size, not the envelope's
            for _ in range(fanout):
                await app.producer.send(FLOOR_TOPIC, record.key, value, None, None, None)


def _declare_hub(app: HubApp) -> None:
    repartition = _bytes_topic(app, REPARTITION_TOPIC)
    table: Any = app.Table(
        "floor-state", default=None, key_type=bytes, value_type=bytes, partitions=None
    )

    @app.agent(_bytes_topic(app, topics.EVENTS), name="floor-resolve")
    async def resolve(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            await app.producer.send(REPARTITION_TOPIC, record.key, record.value, None, None, None)

    @app.agent(repartition, name="floor-state")
    async def state(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            table[record.key] = record.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["normalize", "hub"])
    parser.add_argument("--fanout", type=int, default=1, help="writes per record read")
    parser.add_argument(
        "--value-bytes", type=int, default=1 << 20, help="bytes of each read value written"
    )
    args = parser.parse_args()
    settings = Settings()
    app = create_floor_app(settings, args.mode, args.fanout, args.value_bytes)
    sys.argv = [sys.argv[0], "worker"]
    HubWorker(app, settings).execute_from_commandline()


if __name__ == "__main__":
    main()
