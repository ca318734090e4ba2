"""Reminder rows on a real database: planned with each change, swept once, re-planned."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import NOW, seed_entry
from workflow import outbox, reminders, services, writes
from workflow.db import make_engine, transaction
from workflow.domain.errors import InvalidInput
from workflow.models import OutboxMessage, Reminder


def pending(engine: Engine, entry_id: int | None = None) -> list[Reminder]:
    with transaction(engine) as session:
        query = select(Reminder).where(Reminder.status == "pending").order_by(Reminder.due_at)
        if entry_id is not None:
            query = query.where(Reminder.entry_id == entry_id)
        return list(session.exec(query).all())


def test_new_entry_gets_contribution_and_extract_reminders(engine: Engine) -> None:
    """A city-run entry notified in April is reminded 14, 7, 2, 0 days before both deadlines,
    then overdue and escalation — the contribution ones to the unit, the extract ones to the
    coordinator — all at 08:00 Stockholm time."""
    entry = seed_entry(engine)
    rows = pending(engine, entry.id)
    by_deadline = {
        kind: [(r.kind, r.days_before, r.recipient_role) for r in rows if r.deadline_kind == kind]
        for kind in ("contribution", "extract")
    }
    assert by_deadline["contribution"] == [
        ("reminder", 14, "unit_contact"),
        ("reminder", 7, "unit_contact"),
        ("reminder", 2, "unit_contact"),
        # 17 May 2024 is a Friday: the deadline-day reminder goes that morning.
        ("reminder", 0, "unit_contact"),
        ("overdue", -3, "unit_contact"),
        ("escalation", -5, "coordinator"),
    ]
    assert [r[:2] for r in by_deadline["extract"]][-2:] == [("overdue", -3), ("escalation", -5)]
    assert all(r.due_at.astimezone(UTC).hour == 6 for r in rows)  # 08:00 CEST


def test_contribution_cancels_its_reminders_even_when_kept(engine: Engine) -> None:
    """Once the contribution is in (even kept before the board met) no contribution reminder
    remains; extract reminders stay."""
    entry = seed_entry(engine)
    with transaction(engine) as session:
        services.record_contribution(session, entry_id=entry.id or 0, version=1, actor="t", now=NOW)
    kinds = {r.deadline_kind for r in pending(engine, entry.id)}
    assert kinds == {"extract"}


def test_withdrawn_entry_has_no_reminders(engine: Engine) -> None:
    """A withdrawn entry is never reminded again."""
    entry = seed_entry(engine)
    with transaction(engine) as session:
        services.withdraw_entry(
            session, entry_id=entry.id or 0, version=1, actor="t", now=NOW, note="Omorganisation"
        )
    assert pending(engine, entry.id) == []


def test_privately_run_unit_gets_no_extract_reminder(engine: Engine) -> None:
    """An enskilt driven unit has no minutes extract, so no extract reminders."""
    entry = seed_entry(engine, name="Privat", privately_run=True)
    assert {r.deadline_kind for r in pending(engine, entry.id)} == {"contribution"}


def test_sweep_queues_each_due_reminder_once(engine: Engine) -> None:
    """Sweeping twice at the same moment queues the due reminders once, as outbox rows."""
    entry = seed_entry(engine)
    moment = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)  # after the 14- and 7-day reminders
    with transaction(engine) as session:
        first = reminders.sweep_due_reminders(session, now=moment)
    with transaction(engine) as session:
        second = reminders.sweep_due_reminders(session, now=moment)
    assert (first, second) == (2, 0)  # the contribution's 14- and 7-day reminders
    with transaction(engine) as session:
        keys = sorted(
            m.key
            for m in session.exec(
                select(OutboxMessage).where(OutboxMessage.kind == "reminder")
            ).all()
        )
    assert len(keys) == 2
    assert all(k.startswith(f"reminder/{entry.id}/") for k in keys)


def test_queued_reminders_not_yet_sent_are_cancelled_when_the_fact_arrives(
    engine: Engine,
) -> None:
    """Reminders swept into the outbox but not sent yet (a backlog, an SMTP outage) must not
    go out once the contribution is in or the entry is withdrawn. One a relay is sending at
    that moment (claimed) is left to it; a cancelled one cannot be sent again by a retry."""
    entry = seed_entry(engine)
    assert entry.id is not None
    moment = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)  # the 14- and 7-day reminders are due
    with transaction(engine) as session:
        assert reminders.sweep_due_reminders(session, now=moment) == 2
        being_sent, waiting = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "reminder").order_by(OutboxMessage.id)  # type: ignore[arg-type]
        ).all()
        being_sent.claimed_by, being_sent.claimed_at = "relay-1", moment
        session.add(being_sent)
    with transaction(engine) as session:
        services.record_contribution(session, entry_id=entry.id, version=1, actor="t", now=moment)
    with transaction(engine) as session:
        statuses = {
            m.id: (m.status, m.last_error)
            for m in session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
        }
        assert statuses[being_sent.id] == ("queued", None)
        assert statuses[waiting.id] == ("cancelled", writes.NOT_NEEDED)
        assert [m["id"] for m in outbox.outbox_views(session, status="cancelled")] == [waiting.id]
    with pytest.raises(InvalidInput) as refused, transaction(engine) as session:
        outbox.retry_message(session, waiting.id or 0, now=moment)
    assert refused.value.reasons[0].code == "not_needed"


def test_moved_deadline_replans_pending_and_never_resends(engine: Engine) -> None:
    """Moving the contribution deadline re-plans pending reminders; the ones already queued
    stay as they were and are not planned again."""
    entry = seed_entry(engine)
    moment = datetime(2024, 5, 4, 12, 0, tzinfo=UTC)  # after the 14-day reminder (3 May)
    with transaction(engine) as session:
        reminders.sweep_due_reminders(session, now=moment)
        services.update_cycle_deadlines(
            session, year=2024, now=moment, contribution_deadline=date(2024, 5, 24)
        )
    contribution = [r for r in pending(engine, entry.id) if r.deadline_kind == "contribution"]
    assert {r.deadline for r in contribution} == {date(2024, 5, 24)}
    assert [r.days_before for r in contribution][:2] == [14, 7]  # 10 May and 17 May
    with transaction(engine) as session:
        queued = session.exec(select(Reminder).where(Reminder.status == "queued")).all()
    assert {(r.deadline, r.days_before) for r in queued} == {(date(2024, 5, 17), 14)}


def _sweep_in_process(url: str, moment: datetime, results: multiprocessing.Queue[int]) -> None:
    engine = make_engine(url)
    total = 0
    while True:
        with transaction(engine) as session:
            batch = reminders.sweep_due_reminders(session, now=moment, limit=7)
        total += batch
        if batch == 0:
            break
    results.put(total)


def test_four_concurrent_sweepers_queue_each_reminder_once(
    engine: Engine, database_url: str
) -> None:
    """Four processes sweeping the same due reminders at once queue each exactly once."""
    for number in range(15):
        seed_entry(engine, name=f"Enhet {number}")
    moment = datetime(2024, 8, 1, 12, 0, tzinfo=UTC)  # every reminder of both deadlines is due
    due = len(pending(engine))
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[int] = context.Queue()
    workers = [
        context.Process(target=_sweep_in_process, args=(database_url, moment, results))
        for _ in range(4)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    counts = [results.get(timeout=5) for _ in workers]
    with transaction(engine) as session:
        outbox_keys = [
            m.key for m in session.exec(select(OutboxMessage)).all() if m.key.startswith("rem")
        ]
    assert sum(counts) == due == len(outbox_keys) == len(set(outbox_keys))
    assert pending(engine) == []
