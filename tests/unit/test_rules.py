"""Eligibility, cycle dates, award classes and e-mail addresses: pure rules, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from workflow.domain.rules import (
    AWARD_CLASSES,
    UnitFacts,
    cycle_reasons,
    date_reason,
    eligibility_reasons,
    is_email,
    name_reasons,
    normalise_award_class,
)

ELIGIBLE = UnitFacts(
    staff_count=12,
    manager_has_budget_and_staff_responsibility=True,
    has_business_plan=True,
    share_stockholm_residents=0.9,
    budget_in_balance=True,
    privately_run=False,
)


def codes(reasons: tuple) -> list[str]:
    return [reason.code for reason in reasons]


# --- eligibility ------------------------------------------------------------------------------


def test_eligible_city_run_unit_has_no_reasons():
    """A unit meeting every condition may take part."""
    assert eligibility_reasons(ELIGIBLE) == ()


def test_eligible_privately_run_unit_has_no_reasons():
    """A privately run unit meeting every condition may take part too."""
    assert eligibility_reasons(replace(ELIGIBLE, privately_run=True)) == ()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"manager_has_budget_and_staff_responsibility": False}, "manager_responsibility"),
        ({"has_business_plan": False}, "business_plan"),
        ({"staff_count": 3}, "staff_count"),
        ({"share_stockholm_residents": 0.2}, "share_stockholm_residents"),
    ],
)
def test_each_failed_rule_is_named(change, code):
    """A unit failing one condition is refused with exactly that rule's code."""
    assert codes(eligibility_reasons(replace(ELIGIBLE, **change))) == [code]


def test_four_staff_including_the_manager_is_too_few():
    """Four staff including the manager fails the staff_count rule."""
    assert codes(eligibility_reasons(replace(ELIGIBLE, staff_count=4))) == ["staff_count"]


def test_five_staff_including_the_manager_is_enough():
    """Five staff including the manager meets the staff_count rule."""
    assert eligibility_reasons(replace(ELIGIBLE, staff_count=5)) == ()


def test_fifty_percent_stockholm_residents_is_too_little():
    """An activity 50 % directed at Stockholm residents fails the share rule."""
    facts = replace(ELIGIBLE, share_stockholm_residents=0.50)
    assert codes(eligibility_reasons(facts)) == ["share_stockholm_residents"]


def test_fifty_one_percent_stockholm_residents_is_enough():
    """An activity 51 % directed at Stockholm residents meets the share rule."""
    assert eligibility_reasons(replace(ELIGIBLE, share_stockholm_residents=0.51)) == ()


def test_all_failed_rules_are_reported_together():
    """A unit failing every condition gets every rule's reason in one answer."""
    facts = UnitFacts(
        staff_count=2,
        manager_has_budget_and_staff_responsibility=False,
        has_business_plan=False,
        share_stockholm_residents=0.1,
        budget_in_balance=True,
        privately_run=True,
    )
    assert sorted(codes(eligibility_reasons(facts))) == [
        "business_plan",
        "manager_responsibility",
        "share_stockholm_residents",
        "staff_count",
    ]


def test_reasons_carry_a_swedish_message():
    """Each eligibility reason has a non-empty message for people, naming the number."""
    (reason,) = eligibility_reasons(replace(ELIGIBLE, staff_count=4))
    assert "4" in reason.message
    assert "5" in reason.message


# --- cycles -----------------------------------------------------------------------------------


def test_real_2024_cycle_is_fine():
    """The 2024 dates (17 May, 28 June, 26 November) make a valid cycle."""
    assert cycle_reasons(2024, date(2024, 5, 17), date(2024, 6, 28), date(2024, 11, 26)) == ()


def test_contribution_deadline_after_extract_deadline_is_refused():
    """A contribution due after the extract is deadlines_out_of_order."""
    reasons = cycle_reasons(2024, date(2024, 7, 1), date(2024, 6, 28), date(2024, 11, 26))
    assert codes(reasons) == ["deadlines_out_of_order"]


def test_winners_named_before_the_extract_deadline_is_refused():
    """Winners named before the extract deadline is deadlines_out_of_order."""
    reasons = cycle_reasons(2024, date(2024, 5, 17), date(2024, 6, 28), date(2024, 6, 1))
    assert codes(reasons) == ["deadlines_out_of_order"]


def test_winners_named_on_the_extract_deadline_is_refused():
    """Winners named on the extract deadline day is deadlines_out_of_order."""
    reasons = cycle_reasons(2024, date(2024, 5, 17), date(2024, 6, 28), date(2024, 6, 28))
    assert codes(reasons) == ["deadlines_out_of_order"]


def test_contribution_and_extract_due_the_same_day_is_fine():
    """The contribution may be due the same day as the extract."""
    assert cycle_reasons(2024, date(2024, 6, 28), date(2024, 6, 28), date(2024, 11, 26)) == ()


def test_date_outside_the_cycle_year_is_refused():
    """A winners date in the next year is date_outside_year."""
    reasons = cycle_reasons(2024, date(2024, 5, 17), date(2024, 6, 28), date(2025, 1, 15))
    assert codes(reasons) == ["date_outside_year"]
    assert "winners_date" in reasons[0].message


def test_all_cycle_faults_are_reported_together():
    """Dates both outside the year and out of order give every reason at once."""
    reasons = cycle_reasons(2024, date(2023, 7, 1), date(2023, 6, 28), date(2023, 6, 1))
    assert sorted(codes(reasons)) == ["date_outside_year"] * 3 + ["deadlines_out_of_order"] * 2


# --- award classes ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(AWARD_CLASSES))
def test_class_code_is_accepted(code):
    """A class code is its own normal form."""
    assert normalise_award_class(code) == code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("förskola", "forskola"),
        ("skola", "skola"),
        ("äldreomsorg", "aldreomsorg"),
        ("socialtjänst", "socialtjanst"),
        ("andra verksamheter", "andra_verksamheter"),
    ],
)
def test_swedish_class_name_is_accepted(name, code):
    """A class's Swedish name gives its code."""
    assert normalise_award_class(name) == code


def test_class_name_ignores_case_and_surrounding_space():
    """Capitals and surrounding whitespace do not matter ("  Socialtjänst " → socialtjanst)."""
    assert normalise_award_class("  Socialtjänst ") == "socialtjanst"
    assert normalise_award_class("ÄLDREOMSORG") == "aldreomsorg"


@pytest.mark.parametrize("value", ["", "gymnasium", "social", "socialtjänster"])
def test_unknown_class_is_none(value):
    """A value that is neither a class code nor a class name gives None."""
    assert normalise_award_class(value) is None


# --- e-mail addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["kvalitetsutmarkelsen@stockholm.se", "chef@example.se", "a.b+c@sub.example.se"]
)
def test_plain_address_is_an_email(value):
    """A plain address is accepted."""
    assert is_email(value)


def test_header_injection_is_refused():
    """An address with a newline and a Bcc header is refused."""
    assert not is_email("a@b.se\nBcc: x@y.se")


@pytest.mark.parametrize(
    "value",
    [
        "a@b.se\n",
        "a@b.se\r\nBcc: x@y.se",
        "a@b.se, x@y.se",
        "a@b.se;x@y.se",
        "Chef <chef@example.se>",
        "a b@example.se",
        "chef.example.se",
        "chef@example",
        "a@@b.se",
        "",
    ],
)
def test_address_that_is_not_plain_is_refused(value):
    """Trailing newlines, lists, display names, spaces and malformed addresses are refused."""
    assert not is_email(value)


@pytest.mark.parametrize(
    "name", ["Ungdomsjouren", "LSS/SoL-hälsan", "Förskolan Ängen – avdelning Ö", "x" * 200]
)
def test_ordinary_names_are_fine(name):
    assert name_reasons("Enhetens namn", name) == ()


@pytest.mark.parametrize(
    "name",
    [
        "Förskolan\x01Sol",  # control character: no DOCX or XLSX could hold it
        "Enhet\r\nBcc: x@y.se",  # a line break
        "Enhet\u2028Två",  # Unicode's own line separator
        "Enhet\u202eslov",  # right-to-left override: reads as something else
        "Tab\there",
    ],
)
def test_names_with_line_breaks_or_control_characters_are_refused(name):
    assert [r.code for r in name_reasons("Enhetens namn", name)] == ["invalid_characters"]


def test_empty_and_overlong_names_are_refused():
    assert [r.code for r in name_reasons("Namnet", "  ")] == ["missing_name"]
    assert [r.code for r in name_reasons("Nämnden", "", missing="missing_board")] == [
        "missing_board"
    ]
    assert [r.code for r in name_reasons("Namnet", "x" * 201)] == ["name_too_long"]


@pytest.mark.parametrize("day", [date(2000, 1, 1), date(2024, 6, 11), date(2100, 12, 31)])
def test_dates_of_this_century_are_plausible(day):
    assert date_reason("Mötesdatum", day) is None


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1999, 12, 31), date(2101, 1, 1), date.max])
def test_dates_far_from_now_are_refused_as_typos(day):
    reason = date_reason("Mötesdatum", day)
    assert reason is not None and reason.code == "implausible_date"
    assert day.isoformat() in reason.message


def test_a_cycle_year_far_from_now_is_refused():
    codes = [
        r.code
        for r in cycle_reasons(9999, date(9999, 5, 17), date(9999, 6, 28), date(9999, 11, 26))
    ]
    assert codes == ["implausible_year"]
