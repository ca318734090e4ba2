"""Login delays grow with failures and are capped; the name-wide one stays short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflow.domain.throttle import (
    ADDRESS,
    NAME,
    NAME_AND_ADDRESS,
    Failures,
    delay,
    seconds_to_wait,
)

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
NONE = Failures(0, None)


def test_delays_start_after_the_free_attempts_double_and_stop_at_the_cap() -> None:
    waits = [delay(Failures(n, NOW), NAME_AND_ADDRESS).total_seconds() for n in range(12)]
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert delay(Failures(9, NOW), ADDRESS) == timedelta(0)
    assert delay(Failures(1000, NOW), ADDRESS) == timedelta(seconds=300)


def test_guessing_one_name_from_everywhere_never_keeps_its_owner_out_for_long() -> None:
    for count in (20, 25, 10_000):
        assert delay(Failures(count, NOW), NAME) <= timedelta(seconds=10)


def test_the_longest_wait_counts_and_passes_with_time() -> None:
    spraying = Failures(14, NOW)  # one address, many names: 2^4 = 16 s
    wait = seconds_to_wait(
        NOW + timedelta(seconds=6), by_name_and_address=NONE, by_address=spraying, by_name=NONE
    )
    assert wait == 10
    later = NOW + timedelta(seconds=16)
    assert seconds_to_wait(later, by_name_and_address=NONE, by_address=spraying, by_name=NONE) == 0
