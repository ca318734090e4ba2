"""The outbox as the pages, the operator endpoints and the webhook log show it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from workflow import outbox
from workflow.models import Entry, OutboxMessage, Unit


def _message_query(visible: set[int] | None, status: str | None) -> Any:
    query = select(OutboxMessage.id)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if visible is not None:
        query = query.where(col(OutboxMessage.entry_id).in_(sorted(visible)))
    return query


def message_ids(
    session: Session, visible: set[int] | None, *, status: str | None, limit: int
) -> list[int]:
    """The newest `limit` messages' ids, of the entries in `visible` (None: all)."""
    query = _message_query(visible, status).order_by(col(OutboxMessage.id).desc()).limit(limit)
    return [int(i) for i in session.exec(query).all()]


def message_count(session: Session, visible: set[int] | None, *, status: str | None) -> int:
    query = select(func.count()).select_from(_message_query(visible, status).subquery())
    return int(session.exec(query).one())


def messages_with_units(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    """The messages with their subjects and the unit each is about, newest first."""
    if not ids:
        return []
    views = outbox.outbox_views(session, message_ids=ids, with_subject=True, limit=len(ids))
    entry_ids = {v["entry_id"] for v in views if v["entry_id"] is not None}
    units = dict(
        session.exec(
            select(Entry.id, Unit.name)
            .join(Unit, col(Unit.id) == Entry.unit_id)
            .where(col(Entry.id).in_(sorted(entry_ids)))
        ).all()
    )
    for view in views:
        view["unit"] = units.get(view["entry_id"])
    return sorted(views, key=lambda v: v["id"], reverse=True)


def webhook_deliveries(session: Session, webhook_id: int) -> list[dict[str, Any]]:
    """The webhook's delivery log: every event, its status, attempts and last error."""
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.channel == "webhook", OutboxMessage.recipient == str(webhook_id))
        .order_by(col(OutboxMessage.id))
    ).all()
    return [
        {
            "delivery_id": m.payload.get("delivery_id"),
            "entry_id": m.entry_id,
            "from": m.payload.get("from"),
            "to": m.payload.get("to"),
            "status": m.status,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
        }
        for m in rows
    ]
