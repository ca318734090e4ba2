"""The hours of a site visit from what a booking gives."""

from __future__ import annotations

from datetime import time

import pytest

from workflow.domain.calendar import site_visit_hours, site_visit_span


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "expected"),
    [
        (None, None, (time(9), time(12))),
        (time(13), None, (time(13), time(16))),
        (None, time(11, 30), (time(8, 30), time(11, 30))),
        (time(22), None, (time(22), time(23, 59))),  # never past midnight
        (None, time(1), (time(0), time(1))),
        (time(10), time(10, 45), (time(10), time(10, 45))),
    ],
)
def test_span(starts_at: time | None, ends_at: time | None, expected: tuple[time, time]) -> None:
    assert site_visit_span(starts_at, ends_at) == expected


def test_a_booking_from_before_hours_were_kept_gets_the_default_hours() -> None:
    assert site_visit_hours({"site_visit": {"site_visit_on": "2024-09-03"}}) == (
        time(9),
        time(12),
    )
    booked = {
        "site_visit": {"site_visit_on": "2024-09-03", "starts_at": "13:15", "ends_at": "15:00"}
    }
    assert site_visit_hours(booked) == (time(13, 15), time(15))
