"""A fault test's hub run: worker slots started and always stopped around the test, and a
seeded simulation sent through the real gateway while the test's chaos acts on them.

Every worker fault test has this shape; only the chaos (which worker is killed when) and
what is compared afterwards differ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.settings import Settings
from hub.simulate.journeys import SimConfig
from hub.simulate.runner import Simulation
from tests.support.fault_journeys import (
    WINDOW,
    HubWorkerSlot,
    guarded,
    running_gateway,
    wait_hub_quiet,
)

Chaos = Callable[[Simulation], Awaitable[None]]


@contextmanager
def hub_workers(
    broker_env: dict[str, str], state_root: Path, *names: str
) -> Iterator[tuple[HubWorkerSlot, ...]]:
    """One started worker slot per name, its state dir ``state_root/<name>``; every slot
    stopped on the way out (SIGTERM, SIGKILL if it hangs), whatever happened inside."""
    slots = tuple(HubWorkerSlot(broker_env, state_root / name) for name in names)
    try:
        for slot in slots:
            slot.start()
        yield slots
    finally:
        for slot in slots:
            slot.stop()


async def run_simulation(
    settings: Settings,
    config: SimConfig,
    slots: tuple[HubWorkerSlot, ...],
    *,
    chaos: Chaos | None = None,
    **options: Any,
) -> Simulation:
    """The simulation of ``config`` (``WINDOW`` windows, ``options`` as ``Simulation``
    takes them) through the real gateway, with ``chaos(simulation)`` running beside it
    once the journeys are prepared. Fails as soon as a worker exits on its own. Returns
    the finished simulation (its ``journeys`` and ``stats``) once the hub is quiet, every
    worker checked alive."""
    async with running_gateway(settings) as gateway:
        simulation = Simulation(settings, config, gateway, window=WINDOW, **options)
        simulation.prepare()
        work: Awaitable[object] = simulation.run()
        if chaos is not None:
            work = asyncio.gather(work, chaos(simulation))
        await guarded(work, *slots)
    await asyncio.to_thread(wait_hub_quiet, settings)
    for slot in slots:
        assert slot.alive(), f"a worker died: {slot.log_tail()}"
    return simulation
