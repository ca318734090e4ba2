"""An entry's change: everything it writes, built first, then written back to back.

A transition writes a compare-and-set of the entry and the rows it causes: history events,
outbox messages, reminders added and cancelled. All of it is computed (and whatever it needs
read) before the first write, because a SQLite file has one writer at a time: from its first
write until its COMMIT a transaction holds every other writer up, so nothing but the
statements themselves belongs in that stretch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel

from workflow.db import insert_statement, note_outbox_written
from workflow.models import Entry, HistoryEvent, OutboxMessage, Reminder
from workflow.outbox.rows import ONCE_PER_KEY

NOT_NEEDED = "Behövs inte längre: uppgiften kom in eller deltagandet återkallades."


@dataclass
class ReminderChanges:
    """How an entry's reminder rows must change to match its plan."""

    new_rows: list[dict[str, Any]] = field(default_factory=list)
    cancel_ids: list[int] = field(default_factory=list)  # pending rows no longer wanted
    # Reminders already queued as e-mails that must not go out after all.
    unsent_keys: list[str] = field(default_factory=list)


@dataclass
class EntryChange:
    """Everything one change of an entry writes, built before anything is written."""

    entry_id: int
    seen_version: int | None  # None: the entry is new (inserted just now), nothing to compare
    stage: str
    version: int
    facts: dict[str, Any]
    pending: dict[str, Any]
    at: datetime
    history: list[dict[str, Any]]
    outbox: list[dict[str, Any]] = field(default_factory=list)
    reminders: ReminderChanges = field(default_factory=ReminderChanges)


def apply_change(session: Session, change: EntryChange) -> bool:
    """Write `change` in the session's transaction. False, with nothing written, when the
    entry is no longer at `seen_version` (another writer won)."""
    connection = session.connection()
    if change.seen_version is not None and not _compare_and_set(connection, change):
        return False
    _insert(connection, HistoryEvent, change.history)
    # E-mail and webhook rows name the same columns, so one executemany takes them all;
    # a row that is queued once per key (the organisation's agenda request) is skipped when
    # another change queued it first.
    once = [row for row in change.outbox if row["key"].startswith(ONCE_PER_KEY)]
    _insert(connection, OutboxMessage, [r for r in change.outbox if r not in once])
    if once:
        connection.execute(_insert_unless_key_taken(connection), once)
    if change.outbox:
        note_outbox_written(session)
    apply_reminder_changes(connection, change.reminders)
    return True


def _compare_and_set(connection: Connection, change: EntryChange) -> bool:
    result = connection.execute(
        _COMPARE_AND_SET,
        {
            "entry_id": change.entry_id,
            "seen_version": change.seen_version,
            "new_stage": change.stage,
            "new_version": change.version,
            "new_facts": change.facts,
            "new_pending": change.pending,
            "now": change.at,
        },
    )
    return result.rowcount == 1


def apply_reminder_changes(connection: Connection, changes: ReminderChanges) -> None:
    if changes.cancel_ids:
        connection.execute(_CANCEL_PENDING, {"ids": changes.cancel_ids})
    if changes.unsent_keys:
        connection.execute(_CANCEL_UNSENT, {"keys": changes.unsent_keys})
    _insert(connection, Reminder, changes.new_rows)


def _insert(connection: Connection, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert_statement(model), rows)


def _insert_unless_key_taken(connection: Connection) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING into the outbox, in the connection's dialect."""
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    return insert(_table(OutboxMessage)).on_conflict_do_nothing(index_elements=["key"])


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


# Compare-and-set: only the writer that still sees the version wins; the rest get a conflict.
_ENTRY_TABLE = _table(Entry)
_COMPARE_AND_SET = (
    update(_ENTRY_TABLE)
    .where(
        _ENTRY_TABLE.c.id == bindparam("entry_id"),
        _ENTRY_TABLE.c.version == bindparam("seen_version"),
    )
    .values(
        stage=bindparam("new_stage"),
        version=bindparam("new_version"),
        facts=bindparam("new_facts", type_=_ENTRY_TABLE.c.facts.type),
        pending=bindparam("new_pending", type_=_ENTRY_TABLE.c.pending.type),
        updated_at=bindparam("now", type_=_ENTRY_TABLE.c.updated_at.type),
    )
)
_REMINDER_TABLE = _table(Reminder)
_CANCEL_PENDING = (
    update(_REMINDER_TABLE)
    .where(
        _REMINDER_TABLE.c.id.in_(bindparam("ids", expanding=True)),
        _REMINDER_TABLE.c.status == "pending",
    )
    .values(status="cancelled")
)
_OUTBOX_TABLE = _table(OutboxMessage)
_CANCEL_UNSENT = (
    update(_OUTBOX_TABLE)
    .where(
        _OUTBOX_TABLE.c.key.in_(bindparam("keys", expanding=True)),
        # An undeliverable one too: it must not go out once an address is set.
        _OUTBOX_TABLE.c.status.in_(("queued", "undeliverable")),
        _OUTBOX_TABLE.c.claimed_by.is_(None),
    )
    .values(status="cancelled", last_error=NOT_NEEDED)
)
