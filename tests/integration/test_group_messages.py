"""Writing to a group on a real database: who is chosen, what each recipient reads, and that
a double submit or a refused message changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, update
from sqlmodel import select

from tests.conftest import NOW, seed_cycle
from workflow import services
from workflow.db import transaction
from workflow.domain.access import Actor, Role
from workflow.domain.errors import Conflict, Forbidden, InvalidInput
from workflow.models import AuditEvent, Entry, OutboxMessage, Unit
from workflow.outbox.preview import message_detail
from workflow.services.group_messages import (
    GroupRequest,
    group_messages,
    preview_group_message,
    send_group_message,
)

ADMIN = Actor(user_id=1, name="kansliet", role=Role.ADMIN)
TEXT = "Hej {enhet}!\n\nSkicka ert bidrag i klassen {klass} senast {datum}:\n{länk}"


def _unit(session: Any, org_id: int, name: str, email: str | None, private: bool = False) -> int:
    unit = services.create_unit(
        session,
        services.UnitCreate(
            organisation_id=org_id,
            name=name,
            staff_count=12,
            manager_has_budget_and_staff_responsibility=True,
            has_business_plan=True,
            share_stockholm_residents=0.9,
            budget_in_balance=True,
            privately_run=private,
            contact_email=email,
        ),
    )
    return unit.id or 0


@pytest.fixture
def entries(engine: Engine) -> dict[str, int]:
    """Four entries of 2024: Socialförvaltningen (a coordinator) has Ungdomsjouren (given
    until 31 May), Nattjouren (submitted, privately run) and Familjehuset (no address);
    Utbildningsförvaltningen (no coordinator) has Ekskolan, class skola."""
    seed_cycle(engine)
    with transaction(engine) as session:
        social = services.create_organisation(
            session, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden",
            coordinator_email="samordnare@example.se",
        )  # fmt: skip
        school = services.create_organisation(
            session, name="Utbildningsförvaltningen", kind="forvaltning",
            board="Utbildningsnämnden",
        )  # fmt: skip
        s_id, e_id = social.id or 0, school.id or 0
        units = {
            "Ungdomsjouren": (_unit(session, s_id, "Ungdomsjouren", "chef1@example.se"), "socialtjanst"),  # noqa: E501
            "Nattjouren": (_unit(session, s_id, "Nattjouren", "chef2@example.se", True), "socialtjanst"),  # noqa: E501
            "Familjehuset": (_unit(session, s_id, "Familjehuset", None), "socialtjanst"),
            "Ekskolan": (_unit(session, e_id, "Ekskolan", "rektor@example.se"), "skola"),
        }  # fmt: skip
    ids = {}
    for name, (unit_id, award_class) in units.items():
        with transaction(engine) as session:
            entry = services.create_entry(
                session, unit_id=unit_id, year=2024, award_class=award_class, actor="test", now=NOW
            )
            ids[name] = entry.id or 0
    with transaction(engine) as session:
        session.exec(
            update(Entry)
            .where(Entry.id == ids["Ungdomsjouren"])
            .values(contribution_until=date(2024, 5, 31), case_number="SLK 2024/7")
        )
        session.exec(
            update(Entry)
            .where(Entry.id == ids["Nattjouren"])
            .values(stage="submitted", facts={"submitted": {"submitted_on": "2024-04-01"}})
        )
        session.exec(update(Entry).values(extract_until=None))
    return ids


def request(**changes: Any) -> GroupRequest:
    values: dict[str, Any] = {"year": 2024, "subject": "Bidraget, {enhet}", "text": TEXT}
    values.update(changes)
    return GroupRequest(**values)


def group_rows(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(
            session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "group_message")
                .order_by(OutboxMessage.recipient)
            ).all()
        )


def group_audits(engine: Engine) -> int:
    with transaction(engine) as session:
        return int(
            session.exec(select(func.count()).where(AuditEvent.subject == "group_message")).one()
        )


def preview(engine: Engine, **changes: Any) -> dict[str, Any]:
    with transaction(engine) as session:
        return preview_group_message(session, ADMIN, request(**changes), now=NOW)


def send(engine: Engine, key: str | None = "k1", **changes: Any) -> Any:
    with transaction(engine) as session:
        return send_group_message(session, ADMIN, request(**changes), idempotency_key=key, now=NOW)


def addresses(result: dict[str, Any]) -> list[str]:
    return sorted(r["address"] for r in result["recipients"])


def test_preview_lists_units_with_an_address_and_those_without_and_queues_nothing(
    engine: Engine, entries: dict[str, int]
) -> None:
    result = preview(engine)
    assert addresses(result) == ["chef1@example.se", "chef2@example.se", "rektor@example.se"]
    assert [(u["unit"], u["missing"]) for u in result["unreachable"]] == [("Familjehuset", "unit")]
    assert result["example"]["subject"].startswith("Bidraget, ")
    assert "{" not in result["example"]["text"]
    assert group_rows(engine) == [] and group_audits(engine) == 0


def test_a_coordinator_of_several_units_gets_one_message_naming_them_all(
    engine: Engine, entries: dict[str, int]
) -> None:
    result = preview(engine, audience="coordinators")
    assert addresses(result) == ["samordnare@example.se"]
    assert sorted(result["recipients"][0]["units"]) == [
        "Familjehuset", "Nattjouren", "Ungdomsjouren"
    ]  # fmt: skip
    assert [(u["unit"], u["missing"]) for u in result["unreachable"]] == [
        ("Ekskolan", "coordinator")
    ]
    sent = send(engine, audience="coordinators")
    assert sent.queued == 1
    (row,) = group_rows(engine)
    assert row.payload["group_text"].startswith("Hej Familjehuset, Nattjouren och Ungdomsjouren!")


def test_both_units_and_coordinators(engine: Engine, entries: dict[str, int]) -> None:
    result = preview(engine, audience="both")
    assert addresses(result) == [
        "chef1@example.se", "chef2@example.se", "rektor@example.se", "samordnare@example.se"
    ]  # fmt: skip


def test_each_recipient_reads_their_own_unit_date_and_link(
    engine: Engine, entries: dict[str, int]
) -> None:
    sent = send(engine)
    assert (sent.queued, sent.unreachable, sent.repeated) == (3, 1, False)
    rows = {row.recipient: row for row in group_rows(engine)}
    youth = rows["chef1@example.se"]
    assert youth.key == f"group/{sent.group_id}/chef1@example.se"
    assert youth.entry_id == entries["Ungdomsjouren"]
    assert youth.status == "queued" and youth.due_at == NOW
    text = youth.payload["group_text"]
    # The entry's own extended date, not the cycle's 17 May.
    assert "Hej Ungdomsjouren!" in text and "senast den 31 maj 2024" in text
    assert f"http://127.0.0.1:8000/entries/{entries['Ungdomsjouren']}" in text
    assert "klassen socialtjänst" in text
    assert "senast den 17 maj 2024" in rows["rektor@example.se"].payload["group_text"]
    assert "klassen skola" in rows["rektor@example.se"].payload["group_text"]
    with transaction(engine) as session:
        detail = message_detail(session, youth.id or 0)
        assert detail["subject"].startswith("Bidraget, Ungdomsjouren")
        assert "[Dnr SLK 2024/7]" in detail["subject"]
        assert "senast den 31 maj 2024" in detail["text"]
        event = session.exec(select(AuditEvent).where(AuditEvent.subject == "group_message")).one()
        assert event.actor == "kansliet" and event.action == "queued"
        assert event.changes["recipients"] == 3 and event.changes["text"] == TEXT
        listed = group_messages(session, ADMIN)
    assert [(g["group_id"], g["recipients"], g["statuses"]) for g in listed] == [
        (sent.group_id, 3, {"queued": 3})
    ]


def test_a_double_submit_queues_nothing_twice(engine: Engine, entries: dict[str, int]) -> None:
    first = send(engine, key="dubbel")
    again = send(engine, key="dubbel")
    assert again.repeated and again.group_id == first.group_id and again.queued == 3
    assert len(group_rows(engine)) == 3
    assert group_audits(engine) == 1
    other = send(engine, key="en-annan")
    assert not other.repeated and len(group_rows(engine)) == 6


def test_the_same_key_for_another_message_is_a_conflict(
    engine: Engine, entries: dict[str, int]
) -> None:
    send(engine, key="k")
    with pytest.raises(Conflict):
        send(engine, key="k", text="Något helt annat")
    assert len(group_rows(engine)) == 3 and group_audits(engine) == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"text": "Hej {namn}!"}, "unknown_placeholder"),
        ({"subject": "Om {enhet} och {kontakt}"}, "unknown_placeholder"),
        ({"subject": ""}, "missing_subject"),
        ({"subject": "Två\nrader"}, "invalid_subject"),
        ({"text": "  "}, "missing_text"),
        ({"text": "x" * 20_001}, "text_too_long"),
        ({"year": 2031}, "unknown_year"),
        ({"audience": "alla"}, "invalid_audience"),
        ({"stage": "klar"}, "invalid_stage"),
        ({"award_class": "bibliotek"}, "invalid_class"),
        ({"organisation_id": 999}, "unknown_organisation"),
        ({"send_at": NOW - timedelta(days=1)}, "time_passed"),
    ],
)
def test_bad_input_is_refused_in_swedish_and_nothing_changes(
    engine: Engine, entries: dict[str, int], changes: dict[str, Any], code: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        send(engine, **changes)
    assert code in [r.code for r in refused.value.reasons]
    assert group_rows(engine) == [] and group_audits(engine) == 0


def test_an_unknown_placeholder_is_named_in_the_reason(
    engine: Engine, entries: dict[str, int]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        preview(engine, text="Hej {namn}, se {länk}")
    (reason,) = refused.value.reasons
    assert "{namn}" in reason.message and "{enhet}" in reason.message


def test_only_the_admin_writes_to_a_group(engine: Engine, entries: dict[str, int]) -> None:
    coordinator = Actor(user_id=2, name="sam", role=Role.COORDINATOR, organisation_id=1)
    with transaction(engine) as session, pytest.raises(Forbidden):
        send_group_message(session, coordinator, request(), idempotency_key="x", now=NOW)
    with transaction(engine) as session, pytest.raises(Forbidden):
        preview_group_message(session, coordinator, request(), now=NOW)
    assert group_rows(engine) == []


@pytest.mark.parametrize(
    ("changes", "units"),
    [
        ({"award_class": "skola"}, ["Ekskolan"]),
        ({"stage": "submitted"}, ["Nattjouren"]),
        ({"not_submitted": True}, ["Ekskolan", "Familjehuset", "Ungdomsjouren"]),
        # Nattjouren is privately run: it sends no extract.
        ({"extract_missing": True}, ["Ekskolan", "Familjehuset", "Ungdomsjouren"]),
        (
            {"extract_missing": True, "award_class": "socialtjanst"},
            ["Familjehuset", "Ungdomsjouren"],
        ),
    ],
)
def test_filters_choose_the_entries(
    engine: Engine, entries: dict[str, int], changes: dict[str, Any], units: list[str]
) -> None:
    result = preview(engine, **changes)
    chosen = [name for r in result["recipients"] for name in r["units"]]
    chosen += [u["unit"] for u in result["unreachable"]]
    assert sorted(chosen) == units
    assert result["matched"] == len(units)


def test_the_organisation_filter(engine: Engine, entries: dict[str, int]) -> None:
    with transaction(engine) as session:
        school_id = session.get(Entry, entries["Ekskolan"]).unit_id  # type: ignore[union-attr]
        org_id = session.get(Unit, school_id).organisation_id  # type: ignore[union-attr]
    result = preview(engine, organisation_id=org_id)
    assert addresses(result) == ["rektor@example.se"]


def test_extract_missing_dates_the_message_by_the_extract_deadline(
    engine: Engine, entries: dict[str, int]
) -> None:
    send(engine, extract_missing=True, text="Senast {datum}.")
    rows = {row.recipient: row for row in group_rows(engine)}
    assert rows["chef1@example.se"].payload["group_text"] == "Senast den 28 juni 2024."


def test_a_scheduled_message_is_due_at_its_time(engine: Engine, entries: dict[str, int]) -> None:
    at = NOW + timedelta(days=2)
    sent = send(engine, send_at=at)
    assert sent.due_at == at
    assert {row.due_at for row in group_rows(engine)} == {at}
