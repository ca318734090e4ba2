"""Messages nobody could be written to (no unit address, no coordinator): kept as
undeliverable, and sent once an address is set.

A message is written with status `undeliverable` when the register names nobody to receive it
(`workflow.outbox.rows.addressed`). When a unit's contact address or an organisation's
coordinator or escalation contact is set, the change's own transaction addresses its kept
messages anew (to the unit, or through the coordinator with the notice that the unit has no
address) and queues them, each audited. The key, and so the Message-ID, stays: each is sent once.
Of reminders kept about one deadline only the latest goes; the earlier ones are cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, or_, text
from sqlmodel import Session, col, select

from workflow.db import note_outbox_written
from workflow.domain.calendar import ReminderKind
from workflow.models import Cycle, Entry, Organisation, OutboxMessage, Unit
from workflow.outbox.rows import QUEUED, RECIPIENT_ROLE, UNDELIVERABLE, readdressed
from workflow.services._audit import record_audit

_QUEUE_READDRESSED = text(
    "UPDATE outbox_message SET recipient = :recipient, payload = :payload, status = :queued, "
    "due_at = :now, attempts = 0, last_error = NULL "
    "WHERE id = :id AND status = :undeliverable"
).bindparams(
    bindparam("payload", type_=OutboxMessage.__table__.c.payload.type),  # type: ignore[attr-defined]
    bindparam("now", type_=OutboxMessage.__table__.c.due_at.type),  # type: ignore[attr-defined]
)


def send_when_reachable(
    session: Session,
    *,
    unit_ids: Sequence[int] = (),
    organisation_id: int | None = None,
    actor: str,
    now: datetime,
) -> list[int]:
    """Queue the undeliverable messages about the given units (or every unit of the
    organisation) that the register now names a recipient for; returns their ids."""
    session.flush()  # the address just set must be what the messages are addressed by
    units = or_(col(Unit.id).in_(list(unit_ids)), col(Unit.organisation_id) == organisation_id)
    rows = session.exec(
        select(OutboxMessage, Unit, Organisation, Cycle)
        .join(Entry, col(Entry.id) == OutboxMessage.entry_id)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .where(OutboxMessage.status == UNDELIVERABLE, OutboxMessage.channel == "email", units)
        .order_by(col(OutboxMessage.id))
    ).all()
    superseded = _superseded_reminders([message for message, *_ in rows])
    queued = []
    for message, unit, organisation, cycle in rows:
        recipient, status, payload = readdressed(message.payload, unit, organisation, cycle)
        if status != QUEUED:
            continue
        if message.id in superseded:
            _cancel_superseded(session, message, actor=actor, now=now)
            continue
        result = session.execute(
            _QUEUE_READDRESSED,
            {
                "recipient": recipient,
                "payload": payload,
                "queued": QUEUED,
                "undeliverable": UNDELIVERABLE,
                "now": now,
                "id": message.id,
            },
        )
        session.expire(message)  # the ORM's copy of the row is stale now
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue  # cancelled or re-addressed meanwhile
        record_audit(
            session,
            subject="outbox_message",
            subject_id=message.id or 0,
            action="readdressed",
            actor=actor,
            at=now,
            changes={"recipient": ["", recipient], "status": [UNDELIVERABLE, QUEUED]},
        )
        queued.append(message.id or 0)
    if queued:
        note_outbox_written(session)  # the relay is nudged once the change commits
    return queued


_REMINDER_KINDS = frozenset(kind.value for kind in ReminderKind)
SUPERSEDED = "Ersatt av en senare påminnelse om samma tidsfrist."


def _superseded_reminders(messages: Sequence[OutboxMessage]) -> set[int]:
    """Reminders kept while nobody could receive them, each followed by a later one about the
    same deadline to the same role: only the latest is worth sending once an address is set
    (a pile of "14 days left", "7 days left", "overdue" at once helps nobody)."""
    latest: dict[tuple[object, ...], OutboxMessage] = {}
    reminders = [m for m in messages if m.kind in _REMINDER_KINDS and m.id is not None]
    for message in reminders:
        about = (message.entry_id, message.payload.get("deadline_kind"),
                 message.payload.get(RECIPIENT_ROLE))  # fmt: skip
        kept = latest.get(about)
        # The later a reminder, the fewer days before its deadline (negative once past).
        if kept is None or _days_before(message) < _days_before(kept):
            latest[about] = message
    chosen = {message.id for message in latest.values()}
    return {message.id or 0 for message in reminders if message.id not in chosen}


def _days_before(message: OutboxMessage) -> int:
    return int(message.payload.get("days_before", 0))


def _cancel_superseded(
    session: Session, message: OutboxMessage, *, actor: str, now: datetime
) -> None:
    result = session.execute(
        text(
            "UPDATE outbox_message SET status = 'cancelled', last_error = :why "
            "WHERE id = :id AND status = :undeliverable"
        ),
        {"why": SUPERSEDED, "id": message.id, "undeliverable": UNDELIVERABLE},
    )
    session.expire(message)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        record_audit(
            session, subject="outbox_message", subject_id=message.id or 0, action="cancel",
            actor=actor, at=now, changes={"status": [UNDELIVERABLE, "cancelled"]},
            note=SUPERSEDED,
        )  # fmt: skip
