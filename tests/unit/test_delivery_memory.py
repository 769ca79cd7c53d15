from __future__ import annotations

from connectors.delivery_memory import DeliveryMemory, Seen


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_duplicate_and_replayed_id() -> None:
    memory = DeliveryMemory(clock=FakeClock())
    assert memory.check("acme", "raw_a", "msg_1", "d1") is Seen.NEW
    memory.remember("acme", "raw_a", "msg_1", "d1")
    assert memory.check("acme", "raw_a", "msg_1", "d1") is Seen.DUPLICATE
    assert memory.check("acme", "raw_b", "msg_1", "d2") is Seen.REPLAYED_ID
    assert memory.check("other", "raw_c", "msg_1", "d3") is Seen.NEW  # ids are per source
    assert memory.check("acme", "raw_a", None, "d1") is Seen.DUPLICATE  # no id: by content


def test_memory_forgets_after_ttl_and_beyond_its_size() -> None:
    clock = FakeClock()
    memory = DeliveryMemory(max_entries=3, ttl_s=60, clock=clock)
    memory.remember("acme", "raw_a", "msg_1", "d1")
    clock.now = 61
    assert memory.check("acme", "raw_a", "msg_1", "d1") is Seen.NEW
    assert memory.check("acme", "raw_x", "msg_1", "d9") is Seen.NEW
    for i in range(5):
        memory.remember("acme", f"raw_{i}", f"msg_{i}", f"d{i}")
    assert memory.check("acme", "raw_0", "msg_0", "d0") is Seen.NEW  # evicted (oldest)
    assert memory.check("acme", "raw_4", "msg_4", "d4") is Seen.DUPLICATE
