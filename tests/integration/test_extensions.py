"""Extensions, corrections and case numbers of an entry on a real database."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import NOW, seed_entry
from workflow import documents, services
from workflow.db import transaction
from workflow.domain.errors import InvalidInput, StaleVersion, TransitionRefused
from workflow.models import AuditEvent, Entry, HistoryEvent, OutboxMessage, Reminder
from workflow.services.corrections import correct_entry, set_board_report_case, set_case_number
from workflow.services.extensions import extend_deadline


def pending_contribution_deadlines(engine: Engine, entry_id: int) -> set[date]:
    with transaction(engine) as session:
        rows = session.exec(
            select(Reminder).where(
                Reminder.entry_id == entry_id,
                Reminder.status == "pending",
                Reminder.deadline_kind == "contribution",
            )
        ).all()
        return {r.deadline for r in rows}


def extend(engine: Engine, entry_id: int, until: date, **options: object) -> Entry:
    with transaction(engine) as session:
        return extend_deadline(
            session,
            entry_id=entry_id,
            deadline=str(options.pop("deadline", "contribution")),
            until=until,
            note=str(options.pop("note", "Sjukdom i ledningen")),
            actor="kansliet",
            now=NOW,
            **options,  # type: ignore[arg-type]
        )


def test_extension_replans_reminders_against_the_entrys_own_date(engine: Engine) -> None:
    """After an extension to 31 May the pending contribution reminders count down to 31 May
    and none remains for the cycle's 17 May."""
    entry = seed_entry(engine)
    assert pending_contribution_deadlines(engine, entry.id or 0) == {date(2024, 5, 17)}
    extended = extend(engine, entry.id or 0, date(2024, 5, 31), version=1)
    assert extended.contribution_until == date(2024, 5, 31)
    assert extended.version == 2
    assert pending_contribution_deadlines(engine, entry.id or 0) == {date(2024, 5, 31)}
    with transaction(engine) as session:
        event = session.exec(
            select(HistoryEvent).where(HistoryEvent.entry_id == entry.id, HistoryEvent.version == 2)
        ).one()
        assert event.from_stage == event.to_stage == "notified"
        assert event.data["until_before"] == "2024-05-17"
        assert event.data["until"] == "2024-05-31"
        assert event.note == "Sjukdom i ledningen"
        told = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "deadline_extended")
        ).one()
        assert told.recipient == "chef@example.se"
        assert told.payload["contribution_deadline"] == "2024-05-31"
        audit = session.exec(select(AuditEvent).where(AuditEvent.subject == "entry")).one()
        assert audit.changes == {"contribution_until": [None, "2024-05-31"]}


@pytest.mark.parametrize(
    ("until", "code"),
    [
        (date(2024, 5, 17), "extension_not_later"),
        (date(2024, 5, 1), "extension_not_later"),
        (date(2024, 11, 26), "extension_after_winners"),
        (date(2024, 12, 1), "extension_after_winners"),
    ],
)
def test_extension_outside_the_cycle_is_refused_and_nothing_changes(
    engine: Engine, until: date, code: str
) -> None:
    entry = seed_entry(engine)
    with pytest.raises(InvalidInput) as refused:
        extend(engine, entry.id or 0, until)
    assert code in {r.code for r in refused.value.reasons}
    with transaction(engine) as session:
        again = session.get_one(Entry, entry.id)
        assert again.version == 1 and again.contribution_until is None


def test_extension_after_the_contribution_arrived_is_refused(engine: Engine) -> None:
    entry = seed_entry(engine)
    with transaction(engine) as session:
        services.record_contribution(session, entry_id=entry.id or 0, version=1, actor="t", now=NOW)
    with pytest.raises(TransitionRefused) as refused:
        extend(engine, entry.id or 0, date(2024, 5, 31))
    assert refused.value.reasons[0].code == "deadline_already_met"


def test_extension_from_a_stale_version_changes_nothing(engine: Engine) -> None:
    entry = seed_entry(engine)
    with pytest.raises(StaleVersion):
        extend(engine, entry.id or 0, date(2024, 5, 31), version=7)
    assert pending_contribution_deadlines(engine, entry.id or 0) == {date(2024, 5, 17)}


def test_case_number_goes_into_every_subject_and_the_board_report(engine: Engine) -> None:
    entry = seed_entry(engine)
    with transaction(engine) as session:
        set_case_number(
            session, entry_id=entry.id or 0, case_number=" SLK 2024/123 ", actor="s", now=NOW
        )
        set_board_report_case(
            session, organisation_id=1, year=2024, case_number="SOF 2024/77", actor="s", now=NOW
        )
    with transaction(engine) as session:
        again = session.get_one(Entry, entry.id)
        assert again.case_number == "SLK 2024/123"
        context = documents.build_report_context(session, 1, 2024)
        assert context["preparation"]["case_number"] == "SOF 2024/77"
    extend(engine, entry.id or 0, date(2024, 5, 31))
    with transaction(engine) as session:
        message = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "deadline_extended")
        ).one()
        assert message.payload["case_number"] == "SLK 2024/123"


def test_case_number_refuses_control_characters_and_length(engine: Engine) -> None:
    entry = seed_entry(engine)
    for bad in ("SLK\n2024", "x" * 41):
        with pytest.raises(InvalidInput), transaction(engine) as session:
            set_case_number(session, entry_id=entry.id or 0, case_number=bad, actor="s", now=NOW)


def test_correction_of_a_board_meeting_date_keeps_old_and_new_in_the_history(
    engine: Engine,
) -> None:
    entry = seed_entry(engine)
    with transaction(engine) as session:
        services.advance_entry(
            session,
            entry_id=entry.id or 0,
            target="board_decision",
            version=1,
            actor="s",
            now=NOW,
            data={"decision": "approved", "meeting_date": "2024-03-12", "paragraph": "§ 4"},
        )
    with transaction(engine) as session:
        corrected = correct_entry(
            session,
            entry_id=entry.id or 0,
            version=2,
            note="Fel datum skrevs in",
            actor="samordnaren",
            now=NOW,
            facts={"board_decision": {"meeting_date": "2024-03-14"}},
        )
        assert corrected.facts["board_decision"]["meeting_date"] == "2024-03-14"
    with transaction(engine) as session:
        event = session.exec(
            select(HistoryEvent).where(HistoryEvent.entry_id == entry.id, HistoryEvent.version == 3)
        ).one()
        assert event.data["board_decision.meeting_date"] == "2024-03-12 → 2024-03-14"
        assert event.actor == "samordnaren" and event.note == "Fel datum skrevs in"
        assert session.get_one(Entry, entry.id).facts["board_decision"]["paragraph"] == "§ 4"


def test_correction_without_a_note_or_of_nothing_is_refused(engine: Engine) -> None:
    entry = seed_entry(engine)
    with pytest.raises(InvalidInput), transaction(engine) as session:
        correct_entry(
            session, entry_id=entry.id or 0, version=1, note=" ", actor="s", now=NOW,
            award_class="skola",
        )  # fmt: skip
    with pytest.raises(InvalidInput) as refused, transaction(engine) as session:
        correct_entry(
            session, entry_id=entry.id or 0, version=1, note="x", actor="s", now=NOW,
            award_class="socialtjanst",
        )  # fmt: skip
    assert refused.value.reasons[0].code == "nothing_to_correct"


def test_board_report_states_the_extended_dates(engine: Engine) -> None:
    """One unit with more time for its extract: the report asks for the extract by that date;
    a second unit without it makes the report keep the cycle's date and name the own one."""
    entry = seed_entry(engine)
    extend(engine, entry.id or 0, date(2024, 8, 15), deadline="extract")
    with transaction(engine) as session:
        context = documents.build_report_context(session, 1, 2024)
        assert context["deadlines"]["extract"] == date(2024, 8, 15)
        assert context["deadlines"]["contribution"] == date(2024, 5, 17)
    seed_entry(engine, name="Fältgruppen")
    with transaction(engine) as session:
        context = documents.build_report_context(session, 1, 2024)
        assert context["deadlines"]["extract"] == date(2024, 6, 28)
        assert context["units"][0]["extract_until"] == date(2024, 8, 15)
        assert context["units"][1]["extract_until"] is None
