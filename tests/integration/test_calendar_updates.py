"""Calendars that update: an event's SEQUENCE and LAST-MODIFIED move when the event moves and
at no other time, and a withdrawn entry's visit is cancelled; on SQLite and on PostgreSQL.

Every calendar is parsed back with icalendar, as a calendar app would read it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event
from sqlalchemy import Engine, delete
from sqlmodel import col, select

from tests.conftest import NOW, seed_entry
from workflow import feeds, services
from workflow.db import transaction
from workflow.models import CalendarEvent, Entry, OutboxMessage
from workflow.services.corrections import set_case_number
from workflow.services.extensions import extend_deadline
from workflow.services.registry import update_cycle, update_unit

VISIT = date(2024, 9, 12)  # a Thursday
REBOOKED = date(2024, 9, 19)
DOMAIN = "kvalitet.stockholm.se"


def at(hours: int) -> datetime:
    return NOW + timedelta(hours=hours)


def submitted_private_entry(engine: Engine) -> int:
    """A privately run unit's entry with its contribution in (no board stages)."""
    entry = seed_entry(engine, name="Förskolan Åkerbäret", privately_run=True)
    assert entry.id is not None
    with transaction(engine) as session:
        services.advance_entry(
            session, entry_id=entry.id, target="submitted", version=entry.version,
            actor="kansliet", now=NOW,
        )  # fmt: skip
    return entry.id


def version_of(engine: Engine, entry_id: int) -> int:
    with transaction(engine) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        return entry.version


def book(engine: Engine, entry_id: int, on: date, when: datetime) -> None:
    with transaction(engine) as session:
        services.schedule_site_visit(
            session, entry_id=entry_id, version=version_of(engine, entry_id), on=on,
            actor="kansliet", now=when,
        )  # fmt: skip


def withdraw(engine: Engine, entry_id: int, when: datetime) -> None:
    with transaction(engine) as session:
        services.withdraw_entry(
            session, entry_id=entry_id, version=version_of(engine, entry_id), actor="kansliet",
            now=when, note="Enheten har omorganiserats.",
        )  # fmt: skip


def feed_bytes(engine: Engine, when: datetime) -> bytes:
    with transaction(engine) as session:
        return feeds.cycle_calendar(session, organisation_id=None, now=when)


def events(engine: Engine, when: datetime) -> dict[str, Event]:
    calendar = Calendar.from_ical(feed_bytes(engine, when))
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def messages(engine: Engine, kind: str) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(
            session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.kind == kind)
                .order_by(col(OutboxMessage.id))
            ).all()
        )


def itip_event(payload: dict[str, Any]) -> tuple[str, Event]:
    """The METHOD and the one event of the iCalendar an e-mail carries."""
    calendar = Calendar.from_ical(payload["invitation_ics"])
    [event] = calendar.walk("VEVENT")
    return str(calendar["METHOD"]), event


def visit_uid(entry_id: int) -> str:
    return f"site-visit-{entry_id}@{DOMAIN}"


def test_rebooked_visit_raises_sequence_and_last_modified(engine: Engine) -> None:
    """Rebooked a week later, the visit is one event with SEQUENCE one higher and
    LAST-MODIFIED the rebooking's time; each invitation carries the feed's SEQUENCE then."""
    entry_id = submitted_private_entry(engine)
    book(engine, entry_id, VISIT, at(1))
    first = events(engine, at(2))[visit_uid(entry_id)]
    book(engine, entry_id, REBOOKED, at(3))
    second = events(engine, at(4))[visit_uid(entry_id)]

    assert second.decoded("DTSTART").date() == REBOOKED
    assert second.decoded("SEQUENCE") == first.decoded("SEQUENCE") + 1
    assert first.decoded("LAST-MODIFIED") == at(1)
    assert second.decoded("LAST-MODIFIED") == at(3)
    invitations = [itip_event(m.payload) for m in messages(engine, "site_visit_notice")]
    assert [method for method, _ in invitations] == ["REQUEST", "REQUEST"]
    assert [e.decoded("SEQUENCE") for _, e in invitations] == [
        first.decoded("SEQUENCE"),
        second.decoded("SEQUENCE"),
    ]


def test_unrelated_changes_leave_every_event_as_it_was(engine: Engine) -> None:
    """A case number filed and a second feed fetch: the entry's version moves on, but the
    feed is byte for byte the same (SEQUENCE, LAST-MODIFIED and DTSTAMP unchanged)."""
    entry_id = submitted_private_entry(engine)
    book(engine, entry_id, VISIT, at(1))
    before = feed_bytes(engine, at(2))
    version = version_of(engine, entry_id)
    with transaction(engine) as session:
        set_case_number(
            session, entry_id=entry_id, case_number="SLK 2024/117", actor="kansliet", now=at(3)
        )
    assert version_of(engine, entry_id) == version + 1
    after = feed_bytes(engine, at(4))

    assert after == before
    visit = Calendar.from_ical(after).walk("VEVENT")
    assert any(str(e["UID"]) == visit_uid(entry_id) for e in visit)


def test_moved_cycle_deadline_raises_only_its_own_sequence(engine: Engine) -> None:
    """The contribution deadline moved in the setup: that event's SEQUENCE rises and its
    LAST-MODIFIED is the move; the extract deadline, not moved, stays as it was."""
    seed_entry(engine)
    contribution = f"contribution-deadline-2024@{DOMAIN}"
    extract = f"extract-deadline-2024@{DOMAIN}"
    before = events(engine, at(1))
    with transaction(engine) as session:
        update_cycle(session, year=2024, now=at(2), contribution_deadline=date(2024, 5, 24))
    after = events(engine, at(3))

    assert after[contribution].decoded("DTSTART") == date(2024, 5, 24)
    assert after[contribution].decoded("SEQUENCE") == before[contribution].decoded("SEQUENCE") + 1
    assert after[contribution].decoded("LAST-MODIFIED") == at(2)
    assert after[extract].decoded("SEQUENCE") == before[extract].decoded("SEQUENCE")
    assert after[extract].decoded("LAST-MODIFIED") == before[extract].decoded("LAST-MODIFIED")


def test_extension_is_an_event_of_its_own_that_moves_when_extended_again(engine: Engine) -> None:
    """More time for the contribution puts the entry's own last day in its organisation's
    feed; a second extension moves that event (SEQUENCE + 1, LAST-MODIFIED then)."""
    entry = seed_entry(engine)
    assert entry.id is not None
    uid = f"contribution-extension-{entry.id}@{DOMAIN}"

    def extend(until: date, when: datetime) -> None:
        with transaction(engine) as session:
            extend_deadline(
                session, entry_id=entry.id or 0, deadline="contribution", until=until,
                note="Chefen har varit sjukskriven.", actor="kansliet", now=when,
            )  # fmt: skip

    extend(date(2024, 5, 31), at(1))
    first = events(engine, at(2))[uid]
    extend(date(2024, 6, 7), at(3))
    second = events(engine, at(4))[uid]

    assert first.decoded("DTSTART") == date(2024, 5, 31)
    assert second.decoded("DTSTART") == date(2024, 6, 7)
    assert (first.decoded("SEQUENCE"), second.decoded("SEQUENCE")) == (0, 1)
    assert (first.decoded("LAST-MODIFIED"), second.decoded("LAST-MODIFIED")) == (at(1), at(3))
    assert "Ungdomsjouren" in str(second["SUMMARY"])


def test_withdrawal_cancels_the_booked_visit_by_email(engine: Engine) -> None:
    """Withdrawn before its visit: one e-mail to whoever was invited carries METHOD:CANCEL
    for the same UID, STATUS:CANCELLED and a higher SEQUENCE, which the feed shows too."""
    entry_id = submitted_private_entry(engine)
    book(engine, entry_id, VISIT, at(1))
    [notice] = messages(engine, "site_visit_notice")
    _, invited = itip_event(notice.payload)
    withdraw(engine, entry_id, at(2))

    [cancel] = messages(engine, "site_visit_cancelled")
    method, cancelled = itip_event(cancel.payload)
    assert cancel.recipient == notice.recipient == "chef@example.se"
    assert method == "CANCEL"
    assert str(cancelled["UID"]) == str(invited["UID"]) == visit_uid(entry_id)
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert cancelled.decoded("SEQUENCE") == invited.decoded("SEQUENCE") + 1
    assert str(cancelled["ATTENDEE"]) == str(invited["ATTENDEE"])
    assert cancelled.decoded("DTSTART") == invited.decoded("DTSTART")
    in_feed = events(engine, at(3))[visit_uid(entry_id)]
    assert str(in_feed["STATUS"]) == "CANCELLED"
    assert in_feed.decoded("SEQUENCE") == cancelled.decoded("SEQUENCE")
    assert in_feed.decoded("LAST-MODIFIED") == at(2)


def test_no_cancellation_without_a_visit_to_come(engine: Engine) -> None:
    """Withdrawn with no visit booked, or after the visit's day: no cancellation is sent
    (the feed still marks a past visit of a withdrawn entry cancelled)."""
    never_booked = seed_entry(engine, name="Fritidsgården", privately_run=True)
    assert never_booked.id is not None
    withdraw(engine, never_booked.id, at(1))
    visited = submitted_private_entry(engine)
    book(engine, visited, VISIT, at(1))
    withdraw(engine, visited, datetime.combine(VISIT + timedelta(days=1), NOW.timetz()))

    assert messages(engine, "site_visit_cancelled") == []
    assert str(events(engine, at(2))[visit_uid(visited)]["STATUS"]) == "CANCELLED"


def test_visit_published_before_the_record_keeps_its_sequence(engine: Engine) -> None:
    """A visit whose event was published before events were recorded (SEQUENCE was then its
    entry's version) is recorded at that version, so no calendar holds a higher one."""
    entry_id = submitted_private_entry(engine)
    book(engine, entry_id, VISIT, at(1))
    with transaction(engine) as session:
        session.connection().execute(delete(CalendarEvent))
    visit = events(engine, at(2))[visit_uid(entry_id)]

    assert visit.decoded("SEQUENCE") == version_of(engine, entry_id)
    assert visit.decoded("LAST-MODIFIED") == at(2)


def test_renamed_unit_moves_its_visit_at_the_next_fetch(engine: Engine) -> None:
    """A unit's new name changes its visit's title and place: the next feed publishes it
    with SEQUENCE one higher, LAST-MODIFIED then, and the fetch after that is the same."""
    entry_id = submitted_private_entry(engine)
    book(engine, entry_id, VISIT, at(1))
    before = events(engine, at(2))[visit_uid(entry_id)]
    with transaction(engine) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        update_unit(
            session, unit_id=entry.unit_id, now=at(3), changes={"name": "Förskolan Lärkan"},
            note="Enheten har bytt namn.",
        )  # fmt: skip
    renamed = feed_bytes(engine, at(4))
    after = events(engine, at(5))[visit_uid(entry_id)]

    assert "Förskolan Lärkan" in str(after["SUMMARY"])
    assert after.decoded("SEQUENCE") == before.decoded("SEQUENCE") + 1
    assert after.decoded("LAST-MODIFIED") == at(4)
    assert feed_bytes(engine, at(6)) == renamed
