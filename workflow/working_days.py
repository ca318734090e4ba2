"""Swedish working days from the maintained `holidays` package (an edge: the core takes a
plain `is_working_day` function)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _days_off(year: int) -> frozenset[date]:
    # Public holidays plus the de facto ones offices close on (midsommarafton, julafton,
    # nyårsafton). Sundays come from the weekday check, not from the library.
    calendar = holidays.country_holidays(
        "SE", years=year, categories=("public", "de_facto"), include_sundays=False
    )
    return frozenset(calendar)


def is_swedish_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _days_off(day.year)
