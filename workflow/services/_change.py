"""The one write path of an entry's change: build the entry as it will be and every row the
change causes, then write it all back to back, compare-and-set (see `workflow.writes`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from workflow.domain.errors import Reason, StaleVersion
from workflow.domain.stages import Stage
from workflow.models import Entry
from workflow.writes import EntryChange, apply_change


def history_row(
    entry_id: int,
    version: int,
    source: Stage | None,
    target: Stage,
    *,
    actor: str,
    at: datetime,
    note: str | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """One history event: the entry reached `version` moving from `source` to `target`."""
    return {
        "entry_id": entry_id,
        "version": version,
        "from_stage": source,
        "to_stage": target,
        "actor": actor,
        "at": at,
        "note": note,
        "data": data,
    }


def settle(
    entry: Entry,
    stage: Stage,
    version: int,
    facts: dict[str, Any],
    pending: dict[str, Any],
    now: datetime,
) -> None:
    """The entry as it will be, in memory only: the messages and the reminder plan are built
    from it, and the write stores the same values without marking the entry dirty."""
    for name, value in (
        ("stage", stage.value),
        ("version", version),
        ("facts", facts),
        ("pending", pending),
        ("updated_at", now),
    ):
        set_committed_value(entry, name, value)


def change_of(
    entry: Entry,
    seen_version: int | None,
    history: list[dict[str, Any]],
    outbox: list[dict[str, Any]],
) -> EntryChange:
    """The change that stores `entry` as it now is in memory, from `seen_version`."""
    return EntryChange(
        entry_id=entry.id or 0,
        seen_version=seen_version,
        stage=entry.stage,
        version=entry.version,
        facts=entry.facts,
        pending=entry.pending,
        at=entry.updated_at,
        history=history,
        outbox=outbox,
    )


def write_change(
    session: Session,
    change: EntryChange,
    entry: Entry,
    columns: dict[str, Any] | None = None,
) -> None:
    """Write `change`; compare-and-set: only the writer that still sees the version it read
    wins, the rest get StaleVersion (and nothing of theirs is written). `columns` are the
    entry's own fields the change sets besides its stage data (its case number, its
    extended deadlines), written in the same transaction once the compare-and-set has won."""
    if not apply_change(session, change):
        session.rollback()
        raise stale_version(entry, change.seen_version or 0)
    if columns:
        session.connection().execute(
            update(Entry.__table__).where(Entry.__table__.c.id == change.entry_id).values(**columns)  # type: ignore[attr-defined]
        )


def settle_columns(entry: Entry, columns: dict[str, Any]) -> None:
    """The entry's own fields as the change sets them, in memory only (like `settle`)."""
    for name, value in columns.items():
        set_committed_value(entry, name, value)


def stale_version(entry: Entry, version: int) -> StaleVersion:
    return StaleVersion(
        (
            Reason(
                "stale_version",
                f"Posten {entry.id} har ändrats (du utgick från version {version}); "
                "läs in den igen och försök på nytt.",
            ),
        )
    )
