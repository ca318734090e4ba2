"""The pure rules of a group message: placeholders, the filter, one message per address."""

from __future__ import annotations

from datetime import date

from workflow.domain.group_messages import (
    PLACEHOLDERS,
    Audience,
    GroupFilter,
    Target,
    fill,
    parse_filter,
    placeholder_values,
    placeholders_in,
    recipients,
    text_reasons,
)
from workflow.domain.stages import Stage


def target(number: int, **changes: object) -> Target:
    values: dict[str, object] = {
        "entry_id": number,
        "year": 2027,
        "award_class": "aldreomsorg",
        "unit": f"Enhet {number}",
        "organisation": "Äldreförvaltningen",
        "unit_email": f"chef{number}@example.se",
        "coordinator_email": "samordnare@example.se",
        "contribution_due": date(2027, 5, 17),
        "extract_due": date(2027, 6, 28),
    }
    values.update(changes)
    return Target(**values)  # type: ignore[arg-type]


def words(day: date) -> str:
    return f"{day.day} {['maj', 'juni'][day.month - 5]} {day.year}"


def test_placeholders_are_found_in_order_once_each() -> None:
    assert placeholders_in("{enhet} {datum} {enhet} {x y} {}") == ["enhet", "datum", "x y", ""]


def test_an_unknown_placeholder_is_refused_by_name_with_the_known_ones_listed() -> None:
    (reason,) = text_reasons("Om {enhet}", "Hej {kontakt}, se {länk} och {Enhet}.")
    assert reason.code == "unknown_placeholder"
    assert "{kontakt}, {Enhet}" in reason.message
    assert all("{" + name + "}" in reason.message for name in PLACEHOLDERS)


def test_lone_braces_and_known_placeholders_pass() -> None:
    assert text_reasons("Om {enhet}", "En { ensam klammer.\n} Och {datum}.") == []


def test_fill_replaces_every_known_placeholder() -> None:
    values = {"enhet": "Solrosen", "datum": "den 17 maj 2027"}
    assert fill("{enhet}: senast {datum}. {enhet}!", values) == (
        "Solrosen: senast den 17 maj 2027. Solrosen!"
    )


def test_one_entry_gives_its_own_values_and_its_own_extended_date() -> None:
    one = target(7, contribution_due=date(2027, 5, 31), case_number="SLK 2027/3")
    values = placeholder_values([one], public_url="https://k.se/", extract=False, date_words=words)
    assert values == {
        "enhet": "Enhet 7",
        "organisation": "Äldreförvaltningen",
        "datum": "den 31 maj 2027",
        "länk": "https://k.se/entries/7",
        "år": "2027",
        "klass": "äldreomsorg",
        "dnr": "SLK 2027/3",
    }


def test_several_entries_are_named_together_with_the_earliest_date() -> None:
    many = [target(1), target(2, contribution_due=date(2027, 5, 10)), target(3)]
    values = placeholder_values(many, public_url="https://k.se", extract=False, date_words=words)
    assert values["enhet"] == "Enhet 1, Enhet 2 och Enhet 3"
    assert values["organisation"] == "Äldreförvaltningen"
    assert values["datum"] == "den 10 maj 2027"
    assert values["länk"].splitlines() == [f"https://k.se/entries/{n}" for n in (1, 2, 3)]
    extract = placeholder_values(many, public_url="https://k.se", extract=True, date_words=words)
    assert extract["datum"] == "den 28 juni 2027"


def test_a_coordinator_of_several_units_is_one_recipient() -> None:
    chosen = recipients([target(1), target(2), target(3)], Audience.COORDINATORS)
    (only,) = chosen.reached
    assert only.address == "samordnare@example.se" and only.roles == ("coordinator",)
    assert [t.entry_id for t in only.targets] == [1, 2, 3]


def test_an_address_is_one_recipient_whatever_its_case_or_roles() -> None:
    shared = target(1, unit_email="Samordnare@Example.se")
    chosen = recipients([shared, target(2)], Audience.BOTH)
    assert [(r.address, r.roles) for r in chosen.reached] == [
        ("Samordnare@Example.se", ("unit", "coordinator")),
        ("chef2@example.se", ("unit",)),
    ]


def test_entries_without_an_address_are_listed_as_unreachable() -> None:
    chosen = recipients([target(1, unit_email=""), target(2, coordinator_email=" ")], Audience.BOTH)
    assert [(u.target.entry_id, u.missing) for u in chosen.unreachable] == [
        (1, "unit"),
        (2, "coordinator"),
    ]
    assert [r.address for r in chosen.reached] == ["samordnare@example.se", "chef2@example.se"]


def test_the_filter_is_read_or_refused_with_every_reason() -> None:
    assert parse_filter(year=2027, audience="both", stage="submitted") == GroupFilter(
        year=2027, audience=Audience.BOTH, stage=Stage.SUBMITTED
    )
    refused = parse_filter(year=None, audience="alla", stage="klar", award_class="bibliotek")
    assert isinstance(refused, list)
    assert [r.code for r in refused] == [
        "missing_year", "invalid_audience", "invalid_stage", "invalid_class"
    ]  # fmt: skip
