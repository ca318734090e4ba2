"""What an operator sees of the outbox and does with it: message views, queue health, retry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, text
from sqlmodel import Session, col, select

from workflow.domain.errors import Conflict, InvalidInput, NotFound, refusal
from workflow.emails import message_id_for, render_subject
from workflow.emails.edited import edited_of
from workflow.models import OutboxMessage
from workflow.settings import get_settings

# queued → sent, or failed after its last attempt; held: paused by the award office (no relay
# takes it); cancelled: a reminder no longer needed, or stopped by the award office;
# undeliverable: nobody to send it to yet (no relay takes it; queued once an address is set).
STATUSES = ("queued", "held", "sent", "failed", "cancelled", "undeliverable")


@dataclass(frozen=True)
class QueueHealth:
    """How the outbox is keeping up; the one figure `/healthz`, `/metrics`, `kvalitet status`
    and the dashboard show.

    `oldest_queued_age_seconds` is how long the longest-waiting *due* message has waited for a
    relay: now minus the earliest `due_at` that has passed (0 when nothing is due). A healthy
    relay keeps it under a sweep interval plus a batch; it grows only when due rows are not
    being claimed — a stalled or disconnected worker, which a live process does not reveal
    (`../shared/RELIABILITY.md`, "a health check must look for progress"). A message waiting
    out a retry backoff or held by a live claim is not due, so a transient SMTP refusal does
    not raise it; such messages still count in `queued`, and dead letters in the failed count.
    """

    queued: int
    oldest_queued_age_seconds: float


def queue_health(session: Session, *, now: datetime) -> QueueHealth:
    """One read over the partial index of queued rows."""
    due_at = col(OutboxMessage.due_at)
    queued, oldest_due = session.exec(
        select(func.count(), func.min(case((due_at <= now, due_at)))).where(
            OutboxMessage.status == "queued"
        )
    ).one()
    age = max(0.0, (now - oldest_due).total_seconds()) if oldest_due is not None else 0.0
    return QueueHealth(queued=int(queued), oldest_queued_age_seconds=age)


def retry_message(session: Session, message_id: int, *, now: datetime) -> OutboxMessage:
    """Put a failed (or waiting) message back in the queue, due now, with fresh attempts.

    One guarded UPDATE: a sent message stays sent, and one a relay is sending right now
    stays with that relay (freed, a second relay would send it too). It is sent as it was
    queued (its parts are frozen in the row), so the retry is the same message.
    """
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise refusal(NotFound, "not_found", f"Meddelandet med id {message_id} finns inte.")
    due_type = OutboxMessage.__table__.c.due_at.type  # type: ignore[attr-defined]
    result = session.execute(
        text(
            "UPDATE outbox_message SET status = 'queued', due_at = :now, claimed_by = NULL, "
            "attempts = 0 WHERE id = :id AND status NOT IN ('sent', 'cancelled', 'undeliverable') "
            "AND NOT (status = 'queued' AND claimed_by IS NOT NULL AND due_at > :now)"
        ).bindparams(bindparam("now", type_=due_type)),
        {"id": message_id, "now": now},
    )
    session.refresh(message)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return message
    if message.status == "sent":
        raise refusal(
            InvalidInput,
            "already_sent",
            f"Meddelandet {message_id} är redan skickat; det skickas inte igen.",
        )
    if message.status == "cancelled":
        raise refusal(
            InvalidInput,
            "not_needed",
            f"Meddelandet {message_id} behövs inte längre (uppgiften kom in eller "
            "deltagandet återkallades); det skickas inte.",
        )
    if message.status == "undeliverable":
        raise refusal(
            InvalidInput,
            "no_recipient",
            f"Meddelandet {message_id} har ingen mottagare. Ange enhetens eller samordnarens "
            "e-postadress, så skickas det automatiskt.",
        )
    raise refusal(
        Conflict,
        "being_sent",
        f"Meddelandet {message_id} skickas just nu; se efter igen om en stund.",
    )


def outbox_views(
    session: Session,
    *,
    status: str | None = None,
    entry_id: int | None = None,
    message_ids: Sequence[int] | None = None,
    entry_ids: Sequence[int] | None = None,
    after_id: int | None = None,
    limit: int = 1000,
    with_subject: bool = False,
) -> list[dict[str, Any]]:
    """Messages in id order as plain dicts, at most `limit`, those after `after_id`;
    `entry_ids` keeps those about these entries. `with_subject` renders each subject (costs a
    template run)."""
    query = select(OutboxMessage).order_by(col(OutboxMessage.id)).limit(limit)
    if message_ids is not None:
        query = query.where(col(OutboxMessage.id).in_(list(message_ids)))
    if entry_ids is not None:
        query = query.where(col(OutboxMessage.entry_id).in_(list(entry_ids)))
    if after_id is not None:
        query = query.where(col(OutboxMessage.id) > after_id)
    if status is not None:
        if status not in STATUSES:
            raise refusal(
                InvalidInput,
                "unknown_status",
                f"Okänd status '{status}' ({', '.join(STATUSES)}).",
            )
        query = query.where(OutboxMessage.status == status)
    if entry_id is not None:
        query = query.where(OutboxMessage.entry_id == entry_id)
    domain = get_settings().message_id_domain
    return [
        {
            "id": m.id,
            "entry_id": m.entry_id,
            "kind": m.kind,
            "to": m.recipient,
            "status": m.status,
            "attempts": m.attempts,
            "interrupted_attempts": m.interrupted_attempts,
            "last_error": m.last_error,
            "due_at": m.due_at.isoformat(),
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            "message_id": message_id_for(m.key, domain),
            "key": m.key,
            "edited_by": (edited_of(m.payload) or {}).get("by"),
            **({"subject": subject_of(m)} if with_subject else {}),
        }
        for m in session.exec(query).all()
    ]


def subject_of(message: OutboxMessage) -> str:
    """The subject line the message has (or will have) when sent."""
    edited = edited_of(message.payload)
    if edited is not None:
        return edited["subject"]
    try:
        return render_subject(
            message.kind, context=message.payload, date=message.created_at, settings=get_settings()
        )
    except Exception:  # shown in a list: a broken template must not hide the others
        return f"({message.kind})"
