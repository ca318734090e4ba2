"""Entries as the pages, the API and the CLI show them: views, the cycle at a glance, history.

Read-only: nothing here writes, so any of it may run outside a use case's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, not_, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from workflow.db import get_existing
from workflow.domain.errors import not_found
from workflow.domain.stages import (
    STAGE_LABELS_SV,
    TERMINAL_STAGES,
    Stage,
    allowed_transitions,
    parse_stage,
)
from workflow.models import Cycle, Entry, HistoryEvent, Organisation, Unit


def get_entry(session: Session, entry_id: int) -> Entry:
    return get_existing(session, Entry, entry_id, "Posten")


_ENTRY_COLUMNS = (
    col(Entry.id),
    col(Unit.id),
    col(Unit.name),
    col(Organisation.id),
    col(Organisation.name),
    col(Unit.privately_run),
    col(Cycle.year),
    col(Entry.award_class),
    col(Entry.stage),
    col(Entry.version),
    col(Entry.facts),
    col(Entry.pending),
    col(Entry.created_at),
    col(Entry.updated_at),
    col(Entry.case_number),
    col(Entry.contribution_until),
    col(Entry.extract_until),
)


def entry_views(
    session: Session,
    *,
    stage: str | None = None,
    year: int | None = None,
    organisation_id: int | None = None,
    entry_ids: Iterable[int] | None = None,
    visible: ColumnElement[bool] | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Entries with their unit, organisation and cycle, in one query, as plain dicts.

    Ordered by id, so `after_id` + `limit` page through any number of entries (keyset: each
    page costs the same however deep). Plain columns, not ORM objects: a page of 500 is built
    without an identity map.
    """
    query = (
        sa_select(*_ENTRY_COLUMNS)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .order_by(col(Entry.id))
    )
    if stage is not None:
        query = query.where(col(Entry.stage) == parse_stage(stage).value)
    if year is not None:
        query = query.where(col(Cycle.year) == year)
    if organisation_id is not None:
        query = query.where(col(Unit.organisation_id) == organisation_id)
    if entry_ids is not None:
        query = query.where(col(Entry.id).in_(list(entry_ids)))
    if visible is not None:
        query = query.where(visible)
    if after_id is not None:
        query = query.where(col(Entry.id) > after_id)
    if limit is not None:
        query = query.limit(limit)
    return [_view(*row) for row in session.execute(query).all()]


def entry_view(session: Session, entry_id: int) -> dict[str, Any]:
    views = entry_views(session, entry_ids=[entry_id])
    if not views:
        raise not_found("Posten", entry_id)
    return views[0]


def view_of(entry: Entry, unit: Unit, organisation: Organisation, cycle: Cycle) -> dict[str, Any]:
    """The same view as `entry_views`, from rows already loaded."""
    return _view(
        entry.id or 0,
        unit.id or 0,
        unit.name,
        organisation.id or 0,
        organisation.name,
        unit.privately_run,
        cycle.year,
        entry.award_class,
        entry.stage,
        entry.version,
        entry.facts,
        entry.pending,
        entry.created_at,
        entry.updated_at,
        entry.case_number,
        entry.contribution_until,
        entry.extract_until,
    )


@lru_cache(maxsize=64)
def _allowed(stage: Stage, privately_run: bool) -> tuple[str, ...]:
    """The moves a client can request; `jury` comes only with the jury's announcement."""
    targets = allowed_transitions(stage, privately_run=privately_run)
    return tuple(s.value for s in targets if s != Stage.JURY)


def _view(
    entry_id: int,
    unit_id: int,
    unit: str,
    organisation_id: int,
    organisation: str,
    privately_run: bool,
    year: int,
    award_class: str,
    stage_value: str,
    version: int,
    facts: dict[str, dict[str, str]],
    pending: dict[str, dict[str, str]],
    created_at: datetime,
    updated_at: datetime,
    case_number: str | None = None,
    contribution_until: date | None = None,
    extract_until: date | None = None,
) -> dict[str, Any]:
    stage = Stage(stage_value)
    return {
        "id": entry_id,
        "unit_id": unit_id,
        "unit": unit,
        "organisation_id": organisation_id,
        "organisation": organisation,
        "privately_run": privately_run,
        "year": year,
        "award_class": award_class,
        "stage": stage.value,
        "stage_label": STAGE_LABELS_SV[stage],
        "version": version,
        "allowed_transitions": list(_allowed(stage, privately_run)),
        "facts": facts,
        "pending": pending,
        "created_at": created_at.isoformat(),
        "updated_at": updated_at.isoformat(),
        "case_number": case_number,  # diarienummer
        # Per-entry extensions of the cycle's deadlines; None: the cycle's own date holds.
        "contribution_until": contribution_until.isoformat() if contribution_until else None,
        "extract_until": extract_until.isoformat() if extract_until else None,
    }


# --- the cycle at a glance ------------------------------------------------------------------


@dataclass(frozen=True)
class CycleOverview:
    """What the dashboard shows of a cycle, counted by the database, not in Python."""

    counts: dict[tuple[str, str], int]  # (stage, award class) -> entries
    total: int
    missing_contribution: int  # open entries without a written contribution
    missing_extract: int  # open, municipally run entries without a minutes extract
    overdue_count: int
    overdue: list[dict[str, Any]]  # the first `overdue_limit`, earliest deadline first


# A deadline that has passed: (its day, what is missing, which entries lack it).
_Missed = tuple[date, str, ColumnElement[bool]]


def _has_fact(column: Any, stage: Stage, dialect: str) -> ColumnElement[bool]:
    """`stage` is a key of the JSON object in `column` (portable: the JSON index operators
    of SQLAlchemy quote a missing key into the text 'null' on SQLite)."""
    if dialect == "postgresql":
        return column.op("->")(stage.value).is_not(None)  # type: ignore[no-any-return]
    return func.json_type(column, f'$."{stage.value}"').is_not(None)


def cycle_overview(
    session: Session,
    cycle: Cycle,
    *,
    today: date,
    visible: ColumnElement[bool] | None = None,
    overdue_limit: int = 20,
) -> CycleOverview:
    """Entries per stage and class, what is missing before each deadline, and which entries
    are overdue; three aggregate queries whatever the number of entries."""
    dialect = session.get_bind().dialect.name
    in_cycle = [col(Entry.cycle_id) == cycle.id] + ([visible] if visible is not None else [])
    counts = {
        (stage, award_class): int(n)
        for stage, award_class, n in session.exec(
            select(Entry.stage, Entry.award_class, func.count())
            .where(*in_cycle)
            .group_by(col(Entry.stage), col(Entry.award_class))
        ).all()
    }
    is_open = col(Entry.stage).not_in([s.value for s in TERMINAL_STAGES])
    no_contribution = and_(
        is_open,
        not_(_has_fact(col(Entry.facts), Stage.SUBMITTED, dialect)),
        not_(_has_fact(col(Entry.pending), Stage.SUBMITTED, dialect)),
    )
    no_extract = and_(
        is_open,
        col(Unit.privately_run).is_(False),
        not_(_has_fact(col(Entry.facts), Stage.EXTRACT_SENT, dialect)),
    )
    missed = _missed_deadlines(cycle, today, no_contribution, no_extract)
    overdue = or_(*(lacking for _, _, lacking in missed)) if missed else false()
    missing_contribution, missing_extract, overdue_count = session.exec(
        select(
            func.coalesce(func.sum(case((no_contribution, 1), else_=0)), 0),
            func.coalesce(func.sum(case((no_extract, 1), else_=0)), 0),
            func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
        )
        .select_from(Entry)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(*in_cycle)
    ).one()
    late_rows = (
        _overdue_rows(session, in_cycle, missed, overdue, overdue_limit) if overdue_count else []
    )
    return CycleOverview(
        counts=counts,
        total=sum(counts.values()),
        missing_contribution=int(missing_contribution),
        missing_extract=int(missing_extract),
        overdue_count=int(overdue_count),
        overdue=late_rows,
    )


def _missed_deadlines(
    cycle: Cycle,
    today: date,
    no_contribution: ColumnElement[bool],
    no_extract: ColumnElement[bool],
) -> list[_Missed]:
    """(deadline, what, condition) for each deadline that has passed, earliest first. An
    entry given more time is late only once its own date has passed too."""
    return sorted(
        (
            (deadline, what, and_(lacking, or_(col(own).is_(None), col(own) < today)))
            for deadline, what, lacking, own in (
                (
                    cycle.contribution_deadline,
                    "Skriftligt bidrag saknas",
                    no_contribution,
                    Entry.contribution_until,
                ),
                (
                    cycle.extract_deadline,
                    "Protokollsutdrag saknas",
                    no_extract,
                    Entry.extract_until,
                ),
            )
            if today > deadline
        ),
        key=lambda m: m[0],
    )


def _overdue_rows(
    session: Session,
    in_cycle: list[ColumnElement[bool]],
    missed: list[_Missed],
    overdue: ColumnElement[bool],
    limit: int,
) -> list[dict[str, Any]]:
    """The first `limit` overdue entries, each with what it misses."""
    # Entries that missed the earliest deadline come first, then by unit name.
    first_missed = case((missed[0][2], 0), else_=1)
    rows = session.execute(
        sa_select(
            col(Entry.id),
            col(Unit.name),
            col(Organisation.name),
            *(lacking for _, _, lacking in missed),
        )
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .where(*in_cycle, overdue)
        .order_by(first_missed, col(Unit.name), col(Entry.id))
        .limit(limit)
    ).all()
    return [
        {
            "entry": {"id": entry_id, "unit": unit, "organisation": organisation},
            "missing": [
                {"what": what, "deadline": deadline}
                for (deadline, what, _), lacking in zip(missed, lacks, strict=True)
                if lacking
            ],
        }
        for entry_id, unit, organisation, *lacks in rows
    ]


def entry_history(session: Session, entry_id: int) -> list[dict[str, Any]]:
    get_existing(session, Entry, entry_id, "Posten")
    events = session.exec(
        select(HistoryEvent)
        .where(HistoryEvent.entry_id == entry_id)
        .order_by(col(HistoryEvent.version))
    ).all()
    return [
        {
            "version": event.version,
            "from": event.from_stage,
            "to": event.to_stage,
            "actor": event.actor,
            "at": event.at.isoformat(),
            "note": event.note,
            "data": event.data,
        }
        for event in events
    ]


def count_rows(session: Session, model: type[Any]) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def entry_with_context(
    session: Session, entry_id: int
) -> tuple[Entry, Unit, Organisation, Cycle] | None:
    """An entry with its unit, organisation and cycle in one query; None when it does not
    exist."""
    row = session.exec(
        select(Entry, Unit, Organisation, Cycle)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .where(Entry.id == entry_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])
