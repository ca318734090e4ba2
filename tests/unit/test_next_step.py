"""The entry page's "Nästa steg" line and the checks of changes after the fact; pure."""

from __future__ import annotations

from datetime import date

import pytest

from workflow.domain.corrections import (
    DeadlineKind,
    ExtensionSubject,
    clean_case_number,
    extension_reasons,
)
from workflow.domain.next_step import EntryDates, next_step
from workflow.domain.stages import Stage

DATES = EntryDates(
    contribution=date(2025, 5, 16), extract=date(2025, 6, 27), winners=date(2025, 11, 25)
)


def step(stage: Stage, **options: object) -> object:
    values: dict[str, object] = {
        "privately_run": False, "company": False, "facts": {}, "pending": {}, "dates": DATES,
    }  # fmt: skip
    values.update(options)
    return next_step(stage, **values)  # type: ignore[arg-type]


def test_a_new_city_run_entry_is_asked_first_for_what_is_due_first() -> None:
    """The contribution (16 May) is due before the extract (27 June): the unit goes first."""
    first = step(Stage.NOTIFIED)
    assert first.what == "Skicka in det skriftliga bidraget"  # type: ignore[attr-defined]
    assert first.due == date(2025, 5, 16)  # type: ignore[attr-defined]


def test_with_the_contribution_kept_the_board_decision_is_next() -> None:
    kept = step(Stage.NOTIFIED, pending={"submitted": {}}, company=True)
    assert kept.what == "Registrera styrelsens beslut"  # type: ignore[attr-defined]
    assert kept.who == "samordnaren"  # type: ignore[attr-defined]


def test_an_extended_date_is_the_one_said() -> None:
    extended = EntryDates(date(2025, 5, 30), DATES.extract, DATES.winners)
    assert step(Stage.EXTRACT_SENT, dates=extended).due == date(2025, 5, 30)  # type: ignore[attr-defined]


def test_a_booked_site_visit_names_its_day_and_decided_entries_have_none() -> None:
    booked = step(Stage.SUBMITTED, facts={"site_visit": {"site_visit_on": "2025-09-03"}})
    assert booked.on == date(2025, 9, 3)  # type: ignore[attr-defined]
    assert step(Stage.JURY) is None and step(Stage.WITHDRAWN) is None


def test_an_examined_entry_waits_for_the_office_to_release_the_feedback() -> None:
    """No examiner may move an entry to feedback: the office releases it per class or year."""
    examined = step(Stage.EXAMINED)
    assert examined.what == "Släpp återkopplingen till enheten"  # type: ignore[attr-defined]
    assert examined.who == "utmärkelsens kansli"  # type: ignore[attr-defined]
    assert examined.due == DATES.winners  # type: ignore[attr-defined]


def subject(**changes: object) -> ExtensionSubject:
    values: dict[str, object] = {
        "stage": Stage.NOTIFIED, "privately_run": False, "has_contribution": False,
        "has_extract": False, "cycle_date": date(2025, 5, 16), "winners_date": date(2025, 11, 25),
        "current_until": None,
    }  # fmt: skip
    values.update(changes)
    return ExtensionSubject(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("until", "changes", "code"),
    [
        (date(2025, 5, 16), {}, "extension_not_later"),
        (date(2025, 11, 25), {}, "extension_after_winners"),
        (date(2025, 5, 30), {"has_contribution": True}, "deadline_already_met"),
        (date(2025, 5, 30), {"stage": Stage.WITHDRAWN}, "entry_closed"),
        (date(2025, 5, 30), {"current_until": date(2025, 5, 30)}, "extension_unchanged"),
    ],
)
def test_extension_refusals(until: date, changes: dict[str, object], code: str) -> None:
    reasons = extension_reasons(DeadlineKind.CONTRIBUTION, until, subject(**changes), note="x")
    assert code in {reason.code for reason in reasons}


def test_an_extension_needs_a_reason_and_a_good_one_passes() -> None:
    good = extension_reasons(DeadlineKind.CONTRIBUTION, date(2025, 5, 30), subject(), note="x")
    assert good == ()
    bare = extension_reasons(DeadlineKind.CONTRIBUTION, date(2025, 5, 30), subject(), note=" ")
    assert [r.code for r in bare] == ["missing_note"]


def test_case_numbers_are_loose_free_text() -> None:
    assert clean_case_number("  SLK  2025/123 ") == ("SLK 2025/123", ())
    assert clean_case_number("") == (None, ())
    assert clean_case_number("a\tb")[1][0].code == "invalid_characters"
    assert clean_case_number("x" * 41)[1][0].code == "case_number_too_long"
