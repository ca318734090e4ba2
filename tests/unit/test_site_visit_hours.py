"""The hours of a site visit from what a booking gives."""

from __future__ import annotations

from datetime import time

import pytest

from workflow.domain.calendar import hours_reason, site_visit_hours, site_visit_span


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


@pytest.mark.parametrize("code", ["site_visit_hours", "ceremony_hours"])
def test_hours_that_end_before_they_start_are_refused(code: str) -> None:
    """Hours whose end is not after their start give a reason naming both times."""
    assert hours_reason(code, (time(9), time(12))) is None
    reason = hours_reason(code, (time(15), time(13)))
    assert reason is not None
    assert reason.code == code
    assert "15:00–13:00" in reason.message
