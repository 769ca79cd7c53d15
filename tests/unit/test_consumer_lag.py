"""Lag and oldest-uncommitted age from sampled log end and committed offsets."""

from __future__ import annotations

from hub.consumer_lag import MAX_SAMPLES, UncommittedAges, lag_of


def test_lag_is_log_end_minus_committed_never_negative() -> None:
    assert lag_of(100, 40) == 60
    assert lag_of(100, None) == 100  # nothing committed yet
    assert lag_of(100, 105) == 0  # log end sampled before a later commit


def test_age_counts_from_the_sample_that_first_saw_the_oldest_uncommitted_message() -> None:
    ages = UncommittedAges()
    assert ages.observe("p0", 0.0, log_end=10, committed=10) == 0.0  # all committed
    assert ages.observe("p0", 5.0, log_end=12, committed=10) == 0.0  # offsets 10, 11 new
    assert ages.observe("p0", 10.0, log_end=15, committed=10) == 5.0  # 10 seen since t=5
    # offset 12 is now the oldest uncommitted: it appeared in the sample at t=10
    assert ages.observe("p0", 20.0, log_end=15, committed=12) == 10.0
    assert ages.observe("p0", 25.0, log_end=15, committed=15) == 0.0  # caught up


def test_a_stuck_partition_ages_while_traffic_keeps_arriving() -> None:
    ages = UncommittedAges()
    for second in range(0, 600, 5):
        age = ages.observe("p1", float(second), log_end=100 + second, committed=100)
    assert age == 590.0  # offset 100 first existed in the sample at t=5


def test_history_stays_bounded_and_keeps_the_oldest_sample() -> None:
    ages = UncommittedAges()
    for step in range(MAX_SAMPLES * 3):
        age = ages.observe("p2", float(step), log_end=step + 1, committed=0)
    assert age == MAX_SAMPLES * 3 - 1
    assert len(ages._history["p2"]) <= MAX_SAMPLES


def test_forgotten_partitions_start_over() -> None:
    ages = UncommittedAges()
    ages.observe("p3", 0.0, log_end=5, committed=0)
    ages.forget("p3")
    assert "p3" not in ages.partitions()
    assert ages.observe("p3", 50.0, log_end=5, committed=0) == 0.0
