"""Swedish words for values: the formatters shared by letters, documents and pages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from workflow.swedish import (
    FILTERS,
    datum,
    datum_or_text,
    day_and_month,
    days_from,
    decimaltal,
    filesize,
    hours_span,
    klass,
    klass_or_code,
    kronor,
    manad,
    paragraf,
    procent,
    tid,
    varaktighet,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-17", "17 maj 2024"),
        ("2024-06-28", "28 juni 2024"),
        (datetime(2024, 5, 16, 23, 30, tzinfo=UTC), "17 maj 2024"),  # already the 17th in Sthlm
        ("2024-12-01T08:00:00+01:00", "1 december 2024"),
    ],
)
def test_datum_writes_dates_in_swedish(value: Any, expected: str):
    """Dates read the way the seeds write them: day, Swedish month, year."""
    assert datum(value) == expected


def test_manad_names_the_month_of_a_date():
    """A letter says "i december" from the cycle's own date, never a month written in."""
    assert manad("2024-12-15") == "december"
    assert manad(date(2025, 3, 1)) == "mars"
    assert FILTERS["manad"] is manad


def test_klass_names_award_classes_in_swedish():
    """Class codes become the names the seeds use; unknown classes are refused."""
    assert klass("aldreomsorg") == "äldreomsorg"
    assert klass("andra_verksamheter") == "andra verksamheter"
    with pytest.raises(ValueError):
        klass("idrott")


def test_pages_show_what_is_not_a_date_or_a_class_as_it_stands():
    """The lenient forms never fail a page: an unreadable value is shown, not refused."""
    assert datum_or_text("2024-05-17") == "17 maj 2024"
    assert datum_or_text("snart") == "snart"
    assert klass_or_code("aldreomsorg") == "äldreomsorg"
    assert klass_or_code("idrott") == "idrott"


def test_times_are_written_in_stockholm_time_with_a_dot():
    """Timestamps and booked hours use Swedish clock style: "kl. 11.30", "kl. 9.00–12.00"."""
    assert tid(datetime(2024, 4, 2, 9, 30, tzinfo=UTC)) == "2 april 2024 kl. 11.30"
    assert tid("2024-12-01T08:05:00+01:00") == "1 december 2024 kl. 08.05"
    assert hours_span("09:00", "12:00:00") == "kl. 9.00–12.00"
    assert hours_span("09:00", None) is None
    assert day_and_month(date(2025, 5, 6)) == "6 maj"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 5, 17), "i dag"),
        (date(2024, 5, 18), "i morgon"),
        (date(2024, 5, 16), "i går"),
        (date(2024, 5, 20), "om 3 dagar"),
        (date(2024, 5, 15), "för 2 dagar sedan"),
    ],
)
def test_days_are_counted_from_the_day_given(day: date, expected: str):
    """How far a day is, counted from the `today` the caller passes (no clock read here)."""
    assert days_from(day, date(2024, 5, 17)) == expected


def test_numbers_use_swedish_units_and_a_decimal_comma():
    """Sizes, shares, durations and minutes paragraphs as a Swedish reader expects them."""
    assert [filesize(n) for n in (512, 12 * 1024, 3 * 1024 * 1024 // 2)] == [
        "512 byte",
        "12 kB",
        "1,5 MB",
    ]
    assert procent(0.9) == "90" and procent(0.875) == "87,5"
    assert varaktighet(7 * 60) == "7 minuter"
    assert paragraf(" 12 ") == "§ 12" and paragraf("§ 7") == "§ 7"
    assert [decimaltal(v) for v in (4.0, 3.5, 4, None)] == ["4,0", "3,5", "4", "–"]


def test_letters_and_documents_share_one_set_of_filters():
    """The filters the templates call by name are the functions of this module."""
    assert FILTERS["datum"] is datum and FILTERS["klass"] is klass
    assert {"isodatum", "tid", "lista", "versal", "antal", "ordningstal"} <= set(FILTERS)


def test_amounts_are_whole_kronor_in_groups_of_three_that_never_split():
    """The prize cheque as the letters write it: "50 000 kronor", joined by no-break spaces."""
    assert kronor(50_000) == "50\u00a0000\u00a0kronor"
    assert kronor(1_250_000).replace("\u00a0", " ") == "1 250 000 kronor"
    assert kronor(500).replace("\u00a0", " ") == "500 kronor"
    assert FILTERS["kronor"] is kronor
    for wrong in (True, 50_000.5, "50000"):
        with pytest.raises(TypeError):
            kronor(wrong)  # type: ignore[arg-type]
