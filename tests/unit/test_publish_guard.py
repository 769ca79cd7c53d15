"""The worker never commits past an output it failed to publish."""

from __future__ import annotations

import asyncio

import pytest

from hub.app import GuardedConsumer, PublishFailed, PublishGuard, create_app
from hub.settings import Settings


async def test_guard_raises_after_a_failed_send_and_not_before() -> None:
    guard = PublishGuard()
    loop = asyncio.get_running_loop()
    ok, failed = loop.create_future(), loop.create_future()
    guard.watch(ok)
    guard.watch(failed)
    ok.set_result("metadata")
    await asyncio.sleep(0)
    guard.raise_if_failed()  # nothing failed yet
    failed.set_exception(ConnectionError("broker gone"))
    await asyncio.sleep(0)
    with pytest.raises(PublishFailed, match="ConnectionError"):
        guard.raise_if_failed()


def test_the_app_uses_the_guarded_consumer(tmp_path) -> None:
    app = create_app(Settings(state_dir=tmp_path))
    assert app.transport.Consumer is GuardedConsumer
    assert isinstance(app.publish_guard, PublishGuard)
