"""Next year's dates from this year's; pure. The holiday calendar comes in as a parameter
(`is_working_day`, and optionally `day_off_name`), as in `calendar.py`.

Rule (the award office's practice): a date keeps its month and day in the new year; one that
then falls on a weekend or a Swedish public holiday moves to the working day before (a
deadline is never set on a day the office is closed, and moving it earlier never shortens
anyone's time by surprise the way a later date would lengthen it unevenly). 29 February
becomes 28 February in a year without it, and moves on from there like any other date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from workflow.domain.calendar import IsWorkingDay, working_day_on_or_before

WEEKDAYS_SV = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")

DayOffName = Callable[[date], str | None]


@dataclass(frozen=True)
class CarriedDate:
    """One of a cycle's dates carried over to another year."""

    field: str  # the cycle's column: contribution_deadline, extract_deadline, winners_date
    source: date  # the date in the cycle copied from
    intended: date | None  # the same month and day in the new year; None for 29 Feb
    day: date  # the date the new cycle gets
    day_off: str | None  # why `intended` was not kept: "lördag", "midsommarafton", …

    @property
    def moved(self) -> bool:
        """Whether the date is not simply the same month and day in the new year."""
        return self.intended != self.day


def same_day_in(day: date, year: int) -> date | None:
    """`day`'s month and day in `year`; None when that day does not exist (29 February)."""
    try:
        return day.replace(year=year)
    except ValueError:
        return None


def carry_dates(
    dates: Mapping[str, date],
    year: int,
    is_working_day: IsWorkingDay,
    day_off_name: DayOffName = lambda _day: None,
) -> list[CarriedDate]:
    """Each of `dates` in `year`, in the order given: the same month and day (28 February for
    29 February), moved to the working day before when that day is not a working day."""
    carried = []
    for field, source in dates.items():
        intended = same_day_in(source, year)
        start = intended or date(year, 2, 28)
        day = working_day_on_or_before(start, is_working_day)
        day_off = None
        if day != start:
            day_off = (
                WEEKDAYS_SV[start.weekday()]
                if start.weekday() >= 5
                else day_off_name(start) or "en helgdag"
            )
        carried.append(CarriedDate(field, source, intended, day, day_off))
    return carried
