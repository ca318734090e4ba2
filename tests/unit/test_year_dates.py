"""Next year's dates from this year's: same month and day, moved to the working day before
when that day is a weekend or a Swedish public holiday; 29 February becomes 28 February."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from workflow.domain.years import carry_dates, same_day_in
from workflow.working_days import is_swedish_working_day


def weekdays_only(day: date) -> bool:
    return day.weekday() < 5


def sv_name(day: date) -> str | None:
    return {date(2026, 6, 19): "Midsommarafton", date(2026, 12, 25): "Juldagen"}.get(day)


def test_a_date_on_a_weekday_keeps_its_month_and_day() -> None:
    """25 November 2026 is a Wednesday: nothing moves."""
    (carried,) = carry_dates({"winners_date": date(2025, 11, 25)}, 2026, is_swedish_working_day)
    assert carried.day == date(2026, 11, 25)
    assert not carried.moved
    assert carried.day_off is None


def test_a_date_on_a_sunday_moves_to_the_friday_before() -> None:
    """17 May 2026 is a Sunday: the contribution is due on Friday 15 May."""
    (carried,) = carry_dates(
        {"contribution_deadline": date(2025, 5, 17)}, 2026, is_swedish_working_day
    )
    assert carried.intended == date(2026, 5, 17)
    assert carried.day == date(2026, 5, 15)
    assert carried.moved
    assert carried.day_off == "söndag"


def test_a_date_on_a_saturday_moves_to_the_friday_before() -> None:
    (carried,) = carry_dates({"extract_deadline": date(2025, 6, 27)}, 2026, weekdays_only)
    assert carried.day == date(2026, 6, 26)
    assert carried.day_off == "lördag"


def test_midsommarafton_moves_to_the_thursday_before_and_is_named() -> None:
    """19 June 2026 is midsommarafton (a Friday the office is closed)."""
    (carried,) = carry_dates(
        {"extract_deadline": date(2025, 6, 19)}, 2026, is_swedish_working_day, sv_name
    )
    assert carried.day == date(2026, 6, 18)
    assert carried.day_off == "Midsommarafton"


def test_juldagen_moves_past_julafton_to_the_23rd() -> None:
    """25 December 2026 is juldagen and the 24th julafton: the 23rd is the working day."""
    (carried,) = carry_dates(
        {"winners_date": date(2025, 12, 25)}, 2026, is_swedish_working_day, sv_name
    )
    assert carried.day == date(2026, 12, 23)
    assert carried.day_off == "Juldagen"


def test_a_holiday_without_a_name_is_still_said_to_be_one() -> None:
    """Kristi himmelsfärdsdag 14 May 2026 (a Thursday) → Wednesday 13 May."""
    (carried,) = carry_dates(
        {"contribution_deadline": date(2025, 5, 14)}, 2026, is_swedish_working_day
    )
    assert carried.day == date(2026, 5, 13)
    assert carried.day_off == "en helgdag"


def test_29_february_becomes_28_february_and_is_reported_as_moved() -> None:
    (carried,) = carry_dates({"contribution_deadline": date(2024, 2, 29)}, 2025, weekdays_only)
    assert carried.intended is None
    assert carried.day == date(2025, 2, 28)  # a Friday
    assert carried.moved


def test_29_february_on_a_weekend_year_moves_on_from_the_28th() -> None:
    """28 February 2026 is a Saturday: the 27th."""
    (carried,) = carry_dates({"contribution_deadline": date(2024, 2, 29)}, 2026, weekdays_only)
    assert carried.day == date(2026, 2, 27)
    assert carried.day_off == "lördag"


def test_the_dates_come_back_in_the_order_given() -> None:
    dates = {
        "contribution_deadline": date(2025, 5, 17),
        "extract_deadline": date(2025, 6, 28),
        "winners_date": date(2025, 11, 25),
    }
    carried = carry_dates(dates, 2026, is_swedish_working_day)
    assert [c.field for c in carried] == list(dates)
    assert [c.source for c in carried] == list(dates.values())


def test_same_day_in_has_no_29_february_in_a_common_year() -> None:
    assert same_day_in(date(2024, 2, 29), 2025) is None
    assert same_day_in(date(2024, 2, 29), 2028) == date(2028, 2, 29)


@given(st.dates(min_value=date(2001, 1, 10), max_value=date(2099, 12, 31)), st.integers(2001, 2099))
def test_the_new_date_is_a_working_day_in_the_year_never_after_the_same_day(
    source: date, year: int
) -> None:
    (carried,) = carry_dates({"d": source}, year, is_swedish_working_day)
    assert is_swedish_working_day(carried.day)
    assert carried.day <= (carried.intended or date(year, 2, 28))
    assert (carried.intended or date(year, 2, 28)) - carried.day < timedelta(days=7)
