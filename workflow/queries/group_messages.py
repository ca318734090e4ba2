"""The read side of group messages: the entries a filter chooses, and the messages written."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, func, not_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from workflow.domain.group_messages import GroupFilter, Target
from workflow.domain.stages import TERMINAL_STAGES, Stage
from workflow.models import AuditEvent, Cycle, Entry, Organisation, OutboxMessage, Unit
from workflow.queries.entries import _has_fact

GROUP_SUBJECT = "group_message"  # the audit trail's subject, and the outbox rows' kind


def group_targets(session: Session, cycle: Cycle, wanted: GroupFilter) -> list[Target]:
    """The entries of `cycle` that `wanted` chooses, by organisation, unit and id: one query
    over the columns a message needs (no JSON is decoded)."""
    dialect = session.get_bind().dialect.name
    conditions: list[Any] = [col(Entry.cycle_id) == cycle.id]
    if wanted.stage is not None:
        conditions.append(col(Entry.stage) == wanted.stage.value)
    else:
        conditions.append(col(Entry.stage) != Stage.WITHDRAWN.value)
    if wanted.award_class is not None:
        conditions.append(col(Entry.award_class) == wanted.award_class)
    if wanted.organisation_id is not None:
        conditions.append(col(Unit.organisation_id) == wanted.organisation_id)
    is_open = col(Entry.stage).not_in([s.value for s in TERMINAL_STAGES])
    if wanted.not_submitted:
        conditions.append(
            and_(
                is_open,
                not_(_has_fact(col(Entry.facts), Stage.SUBMITTED, dialect)),
                not_(_has_fact(col(Entry.pending), Stage.SUBMITTED, dialect)),
            )
        )
    if wanted.extract_missing:
        conditions.append(
            and_(
                is_open,
                col(Unit.privately_run).is_(False),
                not_(_has_fact(col(Entry.facts), Stage.EXTRACT_SENT, dialect)),
            )
        )
    # Core, not the ORM: ten thousand plain rows, nothing to track.
    rows: list[Any] = list(
        session.connection()
        .execute(
            sa_select(
                col(Entry.id),
                col(Entry.award_class),
                col(Entry.case_number),
                func.coalesce(col(Entry.contribution_until), cycle.contribution_deadline),
                func.coalesce(col(Entry.extract_until), cycle.extract_deadline),
                col(Unit.name),
                col(Unit.contact_email),
                col(Organisation.name),
                col(Organisation.coordinator_email),
            )
            .join(Unit, col(Unit.id) == Entry.unit_id)
            .join(Organisation, col(Organisation.id) == Unit.organisation_id)
            .where(*conditions)
            .order_by(col(Organisation.name), col(Unit.name), col(Entry.id))
        )
        .all()
    )
    return [
        Target(
            entry_id=entry_id,
            year=cycle.year,
            award_class=award_class,
            unit=unit,
            organisation=organisation,
            unit_email=unit_email or "",
            coordinator_email=coordinator_email or "",
            contribution_due=_day(contribution_due),
            extract_due=_day(extract_due),
            case_number=case_number,
        )
        for (
            entry_id,
            award_class,
            case_number,
            contribution_due,
            extract_due,
            unit,
            unit_email,
            organisation,
            coordinator_email,
        ) in rows
    ]


def _day(value: Any) -> date:
    """COALESCE over a DATE column and a bound date comes back as text on SQLite."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def group_message_events(session: Session, *, limit: int = 200) -> list[AuditEvent]:
    """The group messages queued, newest first (their audit events hold what was written)."""
    return list(
        session.exec(
            select(AuditEvent)
            .where(AuditEvent.subject == GROUP_SUBJECT, AuditEvent.action == "queued")
            .order_by(col(AuditEvent.id).desc())
            .limit(limit)
        ).all()
    )


def group_event(session: Session, group_id: str) -> AuditEvent | None:
    """The audit event of the group message `group_id`, if it was queued."""
    for event in group_message_events(session, limit=10_000):
        if event.changes.get("group_id") == group_id:
            return event
    return None


def group_status_counts(session: Session, group_id: str) -> dict[str, int]:
    """How many of the group's messages are in each status (queued, sent, failed …)."""
    rows = session.execute(
        sa_select(col(OutboxMessage.status), func.count())
        .where(
            col(OutboxMessage.kind) == GROUP_SUBJECT,
            col(OutboxMessage.key).startswith(f"group/{group_id}/", autoescape=True),
        )
        .group_by(col(OutboxMessage.status))
    ).all()
    return {str(status): int(n) for status, n in rows}
