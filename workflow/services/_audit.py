"""The register's audit trail: one append-only row per change, with every field's old → new."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from sqlmodel import Session

from workflow.models import AuditEvent

OPERATOR = "kommandoraden"  # who acts when no user is named: the operator on the server


def plain(value: Any) -> Any:
    """A value as the audit trail's JSON keeps it (dates as ISO text)."""
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """`{field: [old, new]}` for each field whose value differs."""
    return {
        name: [plain(before.get(name)), plain(value)]
        for name, value in after.items()
        if plain(before.get(name)) != plain(value)
    }


def record_audit(
    session: Session,
    *,
    subject: str,
    subject_id: int,
    action: str,
    actor: str,
    at: datetime,
    changes: Mapping[str, Any],
    note: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        subject=subject,
        subject_id=subject_id,
        action=action,
        actor=actor,
        at=at,
        note=note,
        changes=dict(changes),
    )
    session.add(event)
    session.flush()
    return event
