"""How long a login must wait after failed attempts; pure.

Three counts, each over the last quarter of an hour, each with its own free attempts and its
own growing delay (1, 2, 4 … seconds, capped):

- one name from one address: a person mistyping, or someone guessing one person's password;
- one address, any name: one guess each against many names (spraying);
- one name, any address: guessing spread over many machines. Its cap is short on purpose:
  the real user, from another address, never waits more than a few seconds — there is no
  lockout an attacker can cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Limit:
    free: int  # failures allowed before any delay
    cap_seconds: float  # the longest delay


NAME_AND_ADDRESS = Limit(free=3, cap_seconds=60)
ADDRESS = Limit(free=10, cap_seconds=300)
NAME = Limit(free=20, cap_seconds=10)


@dataclass(frozen=True)
class Failures:
    """Failed attempts in the window, and when the latest of them was."""

    count: int
    latest: datetime | None


def delay(failures: Failures, limit: Limit) -> timedelta:
    """The wait this many failures call for: none within the free ones, then doubling."""
    if failures.count < limit.free:
        return timedelta(0)
    doublings = min(failures.count - limit.free, 30)  # 2^30 s is past every cap already
    return timedelta(seconds=min(2.0**doublings, limit.cap_seconds))


def seconds_to_wait(
    now: datetime, *, by_name_and_address: Failures, by_address: Failures, by_name: Failures
) -> float:
    """How long until a login may be tried again (0: now)."""
    waits = [
        (failures.latest + delay(failures, limit) - now).total_seconds()
        for failures, limit in (
            (by_name_and_address, NAME_AND_ADDRESS),
            (by_address, ADDRESS),
            (by_name, NAME),
        )
        if failures.latest is not None
    ]
    return max([0.0, *waits])
