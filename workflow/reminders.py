"""Reminder rows: planned with each change of an entry or a cycle, claimed by the sweep.

Planning runs inside the caller's transaction, so an entry and its reminders never disagree.
The sweep turns due rows into outbox messages with one atomic claim, safe to run in any
number of schedulers and workers at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text
from sqlmodel import Session, col, select

from workflow.db import insert_rows, transaction
from workflow.domain.calendar import (
    STOCKHOLM,
    Deadline,
    PlannedReminder,
    ReminderSubject,
    entry_deadline,
    plan_reminders,
    reminder_recipient,
    send_time,
    still_to_come,
)
from workflow.domain.stages import TERMINAL_STAGES, Stage
from workflow.models import Cycle, Entry, Organisation, OutboxMessage, Reminder, Unit
from workflow.outbox.rows import reminder_message_row
from workflow.working_days import is_swedish_working_day
from workflow.writes import ReminderChanges, apply_reminder_changes


def planned_for(
    entry: Entry, unit: Unit, cycle: Cycle, *, now: datetime | None
) -> list[PlannedReminder]:
    subject = ReminderSubject(
        entry_id=entry.id or 0,
        stage=Stage(entry.stage),
        privately_run=unit.privately_run,
        has_contribution=Stage.SUBMITTED in entry.facts or Stage.SUBMITTED in entry.pending,
        has_extract=Stage.EXTRACT_SENT in entry.facts,
    )
    deadlines = entry_deadlines(entry, cycle)
    return plan_reminders(subject, deadlines, now=now, is_working_day=is_swedish_working_day)


def entry_deadlines(entry: Entry, cycle: Cycle) -> dict[Deadline, date]:
    """The entry's own deadlines: the cycle's, or the later date an extension gave it."""
    return {
        Deadline.CONTRIBUTION: entry_deadline(
            cycle.contribution_deadline, entry.contribution_until
        ),
        Deadline.EXTRACT: entry_deadline(cycle.extract_deadline, entry.extract_until),
    }


def depends_on(entry: Entry) -> tuple[bool, bool, bool]:
    """What an entry's reminders depend on; re-planning is needed only when this changes."""
    return (
        Stage(entry.stage) in TERMINAL_STAGES,
        Stage.SUBMITTED in entry.facts or Stage.SUBMITTED in entry.pending,
        Stage.EXTRACT_SENT in entry.facts,
    )


# Re-planning runs in most transitions: its read is built once.
_REMINDERS_OF_ENTRY = select(Reminder.id, Reminder.key, Reminder.status).where(
    col(Reminder.entry_id) == bindparam("entry_id")
)


def replan_entry(session: Session, entry: Entry, unit: Unit, cycle: Cycle, now: datetime) -> None:
    """Make the entry's pending reminders match its plan (see `reminder_changes`)."""
    connection = session.connection()
    apply_reminder_changes(connection, reminder_changes(connection, entry, unit, cycle, now))


def reminder_changes(
    connection: Connection, entry: Entry, unit: Unit, cycle: Cycle, now: datetime
) -> ReminderChanges:
    """What makes the entry's reminder rows match its plan, read but not yet written. Pending
    rows the plan no longer wants are cancelled (a due one the sweep has not reached yet stays:
    it is still wanted); new ones are added only for days not yet past; a key once queued is
    never planned again."""
    wanted = {r.key: r for r in planned_for(entry, unit, cycle, now=None)}
    still_to_send = {r.key for r in still_to_come(wanted.values(), now=now)}
    existing = connection.execute(_REMINDERS_OF_ENTRY, {"entry_id": entry.id}).all()
    known = {key for _, key, _ in existing}
    return ReminderChanges(
        new_rows=[
            {
                "key": key,
                "entry_id": planned.entry_id,
                "deadline_kind": planned.deadline_kind,
                "deadline": planned.deadline,
                "kind": planned.kind,
                "days_before": planned.days_before,
                "recipient_role": planned.recipient,
                "due_at": planned.send_at,
                "status": "pending",
                "created_at": now,
            }
            for key, planned in wanted.items()
            if key not in known and key in still_to_send
        ],
        cancel_ids=[
            rid for rid, key, status in existing if status == "pending" and key not in wanted
        ],
        # Already queued as e-mails but not sent yet (a backlog, an SMTP outage): the fact
        # arrived or the entry was withdrawn, so they must not go out. One a relay is sending
        # right now (claimed) goes; that window no change can close.
        unsent_keys=[
            key for _, key, status in existing if status == "queued" and key not in wanted
        ],
    )


def replan_cycle(session: Session, cycle: Cycle, now: datetime) -> int:
    """Re-plan every open entry of a cycle (after its deadlines moved); returns how many."""
    rows = session.exec(
        select(Entry, Unit)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(Entry.cycle_id == cycle.id)
        .where(col(Entry.stage).not_in([s.value for s in TERMINAL_STAGES]))
    ).all()
    for entry, unit in rows:
        replan_entry(session, entry, unit, cycle, now)
    return len(rows)


# The literal `status = 'pending'` lets both databases use the partial index on due_at.
_CLAIM_SQL = {
    # ARRAY(…) runs the subquery once; PostgreSQL may re-run an IN (subquery) and so claim
    # more than :limit rows.
    "postgresql": """
        UPDATE reminder SET status = 'queued', queued_at = :now
        WHERE id = ANY(ARRAY(
            SELECT id FROM reminder WHERE status = 'pending' AND due_at <= :now
            ORDER BY due_at LIMIT :limit FOR UPDATE SKIP LOCKED
        )) AND status = 'pending'
        RETURNING id
    """,
    "sqlite": """
        UPDATE reminder SET status = 'queued', queued_at = :now
        WHERE id IN (
            SELECT id FROM reminder WHERE status = 'pending' AND due_at <= :now
            ORDER BY due_at LIMIT :limit
        ) AND status = 'pending'
        RETURNING id
    """,
}


def due_reminder_ids(session: Session, *, now: datetime, limit: int) -> list[int]:
    """The ids of due pending reminders, oldest first (read only; for previews and benches)."""
    statement = text(
        "SELECT id FROM reminder WHERE status = 'pending' AND due_at <= :now "
        "ORDER BY due_at LIMIT :limit"
    ).bindparams(bindparam("now", type_=Reminder.__table__.c.due_at.type))  # type: ignore[attr-defined]
    return [row[0] for row in session.execute(statement, {"now": now, "limit": limit})]


def sweep_due_reminders(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Claim up to `limit` due reminders and queue their e-mails; returns how many queued.

    One atomic UPDATE … RETURNING claims the rows, so two sweeps never claim the same one;
    the outbox key equals the reminder key, so even a replayed claim cannot send twice.
    """
    dialect = session.get_bind().dialect.name
    claim = text(_CLAIM_SQL["postgresql" if dialect == "postgresql" else "sqlite"]).bindparams(
        bindparam("now", type_=Reminder.__table__.c.due_at.type)  # type: ignore[attr-defined]
    )
    ids = [row[0] for row in session.execute(claim, {"now": now, "limit": limit})]
    if not ids:
        return 0
    rows = session.exec(
        select(Reminder, Entry, Unit, Organisation)
        .join(Entry, col(Entry.id) == Reminder.entry_id)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .where(col(Reminder.id).in_(ids))
    ).all()
    cycles = {
        cycle.id: cycle
        for cycle in session.exec(
            select(Cycle).where(col(Cycle.id).in_({entry.cycle_id for _, entry, _, _ in rows}))
        )
    }
    existing_keys = set(
        session.exec(
            select(OutboxMessage.key).where(col(OutboxMessage.key).in_([r.key for r, *_ in rows]))
        ).all()
    )
    messages = []
    for reminder, entry, unit, organisation in rows:
        if reminder.key in existing_keys:
            continue
        messages.append(
            reminder_message_row(
                reminder, entry, unit, organisation, cycles[entry.cycle_id], now=now
            )
        )
    if messages:
        # One executemany, not 500 ORM objects to track and flush.
        insert_rows(session, OutboxMessage, messages)
    return len(messages)


def sweep_all_due_reminders(engine: Engine, *, clock: Callable[[], datetime]) -> int:
    """Sweep batch after batch, each in its own transaction, until none is due; returns how
    many e-mails were queued."""
    queued = 0
    while True:
        with transaction(engine) as session:
            batch = sweep_due_reminders(session, now=clock())
        queued += batch
        if batch == 0:
            return queued


def reminder_preview(session: Session, *, until: date) -> Sequence[dict[str, Any]]:
    """Pending reminders due up to `until` (inclusive, Stockholm day), for `reminders list`."""
    limit = send_time(until).astimezone(STOCKHOLM).replace(hour=23, minute=59, second=59)
    rows = session.exec(
        select(Reminder, Unit)
        .join(Entry, col(Entry.id) == Reminder.entry_id)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(Reminder.status == "pending", col(Reminder.due_at) <= limit)
        .order_by(col(Reminder.due_at), col(Reminder.id))
    ).all()
    return [
        {
            "key": r.key,
            "entry_id": r.entry_id,
            "unit": unit.name,
            "kind": r.kind,
            "deadline_kind": r.deadline_kind,
            "deadline": r.deadline.isoformat(),
            "days_before": r.days_before,
            "recipient_role": reminder_recipient(r.kind, r.deadline_kind, r.recipient_role).value,
            "due_at": r.due_at.isoformat(),
            "due_local": r.due_at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M"),
        }
        for r, unit in rows
    ]
