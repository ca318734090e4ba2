"""The award office's hand on queued messages: hold, release, cancel, retry and edit, one
message or many by filter; every action audited.

A held message is simply not `queued`, so no relay claims it (`claims.py` takes queued rows
only). Each action is one guarded UPDATE that leaves alone a row a relay has claimed: a message
being sent stays with its relay, and one already sent is never touched. An edit replaces the
subject and text of that one message; the template's version stays derivable from the payload,
so both are in the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session, col, select

from workflow.db import insert_rows
from workflow.domain.errors import Conflict, InvalidInput, NotFound, Reason, refusal
from workflow.domain.rules import without_unsafe_characters
from workflow.models import AuditEvent, Cycle, Entry, OutboxMessage, Unit
from workflow.outbox.operator import STATUSES, retry_message
from workflow.services._audit import record_audit

ACTIONS = ("hold", "release", "cancel", "retry")
# From which statuses each action moves a message, and to which.
_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "hold": (("queued",), "held"),
    "release": (("held",), "queued"),
    "cancel": (("queued", "held", "undeliverable"), "cancelled"),
}
MAX_SUBJECT = 200
MAX_TEXT = 20_000
MOST_AT_ONCE = 10_000  # one filter acts on at most this many messages


@dataclass(frozen=True)
class MessageFilter:
    """Which messages an action is for: given ids, or every message matching all set fields."""

    ids: tuple[int, ...] = ()
    status: str | None = None
    kind: str | None = None
    year: int | None = None
    organisation_id: int | None = None

    def is_empty(self) -> bool:
        return not self.ids and all(
            value is None for value in (self.status, self.kind, self.year, self.organisation_id)
        )


@dataclass
class ActionResult:
    """What an action did: the ids it changed, and why it left the others alone."""

    action: str
    changed: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)  # id → reason, in Swedish

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "changed": self.changed,
            "skipped": [{"id": i, "reason": r} for i, r in sorted(self.skipped.items())],
        }


def matching_ids(session: Session, wanted: MessageFilter) -> list[int]:
    """The ids of the e-mails `wanted` names, oldest first."""
    if wanted.is_empty():
        raise refusal(
            InvalidInput,
            "missing_filter",
            "Ange ett meddelande eller ett villkor (status, typ, år, organisation).",
        )
    if wanted.status is not None and wanted.status not in STATUSES:
        raise refusal(
            InvalidInput,
            "unknown_status",
            f"Okänd status '{wanted.status}' ({', '.join(STATUSES)}).",
        )
    query = select(OutboxMessage.id).where(OutboxMessage.channel == "email")
    if wanted.ids:
        query = query.where(col(OutboxMessage.id).in_(wanted.ids))
    if wanted.status is not None:
        query = query.where(OutboxMessage.status == wanted.status)
    if wanted.kind is not None:
        query = query.where(OutboxMessage.kind == wanted.kind)
    if wanted.year is not None or wanted.organisation_id is not None:
        query = query.join(Entry, col(Entry.id) == col(OutboxMessage.entry_id))
    if wanted.year is not None:
        query = query.join(Cycle, col(Cycle.id) == col(Entry.cycle_id)).where(
            Cycle.year == wanted.year
        )
    if wanted.organisation_id is not None:
        query = query.join(Unit, col(Unit.id) == col(Entry.unit_id)).where(
            Unit.organisation_id == wanted.organisation_id
        )
    ids = [i for i in session.exec(query.order_by(col(OutboxMessage.id))).all() if i is not None]
    if len(ids) > MOST_AT_ONCE:
        raise refusal(
            InvalidInput,
            "too_many",
            f"Villkoret gäller {len(ids)} meddelanden; högst {MOST_AT_ONCE} åt gången.",
        )
    missing = set(wanted.ids) - set(ids)
    if len(wanted.ids) == 1 and missing:
        (only,) = missing
        raise refusal(NotFound, "not_found", f"Meddelandet med id {only} finns inte.")
    return ids


def act_on_messages(
    session: Session,
    action: str,
    wanted: MessageFilter,
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> ActionResult:
    """Hold, release, cancel or retry every message `wanted` names. With one id, a message
    the action cannot apply to (sent, being sent, in another status) is refused (Conflict);
    with a filter, such messages are listed as skipped with the reason."""
    if action not in ACTIONS:
        raise refusal(
            InvalidInput, "unknown_action", f"Okänd åtgärd '{action}' ({', '.join(ACTIONS)})."
        )
    ids = matching_ids(session, wanted)
    result = ActionResult(action)
    changed = set(_apply(session, action, ids, now))
    result.changed = [i for i in ids if i in changed]
    for message_id in ids:
        if message_id not in changed:
            reason = _why_not(session, message_id, action)
            result.skipped[message_id] = reason.message
            if len(wanted.ids) == 1 and not _has_conditions(wanted):
                raise Conflict((reason,))
    insert_rows(
        session,
        AuditEvent,
        [
            {"subject": "outbox_message", "subject_id": message_id, "action": action,
             "actor": actor, "at": now, "note": note, "changes": {}}
            for message_id in result.changed
        ],
    )  # fmt: skip
    return result


def _has_conditions(wanted: MessageFilter) -> bool:
    return any(v is not None for v in (wanted.status, wanted.kind, wanted.year))


def _apply(session: Session, action: str, ids: list[int], now: datetime) -> list[int]:
    """The ids the action changed. One UPDATE for all (a long write would hold up the relays
    on SQLite), guarded so that a row a relay has claimed is left to it."""
    if action == "retry":
        done = []
        for message_id in ids:
            try:
                retry_message(session, message_id, now=now)
            except (InvalidInput, Conflict):
                continue
            done.append(message_id)
        return done
    sources, target = _MOVES[action]
    changed: list[int] = []
    for start in range(0, len(ids), 500):  # bounded statements on every database
        rows = session.execute(
            text(
                "UPDATE outbox_message SET status = :target WHERE id IN :ids "
                "AND status IN :sources AND claimed_by IS NULL RETURNING id"
            ).bindparams(bindparam("ids", expanding=True), bindparam("sources", expanding=True)),
            {"target": target, "ids": ids[start : start + 500], "sources": list(sources)},
        )
        changed.extend(row[0] for row in rows)
    return changed


def _why_not(session: Session, message_id: int, action: str) -> Reason:
    session.expire_all()  # the guarded UPDATE found the row changed: read it as it is now
    message = session.get(OutboxMessage, message_id)
    status = message.status if message is not None else "missing"
    if status == "sent":
        return Reason(
            "already_sent", f"Meddelandet {message_id} är redan skickat; det går inte att ändra."
        )
    if status == "queued" and message is not None and message.claimed_by is not None:
        return Reason(
            "being_sent", f"Meddelandet {message_id} skickas just nu; se efter igen om en stund."
        )
    labels = {
        "queued": "i kö",
        "held": "pausat",
        "failed": "misslyckat",
        "cancelled": "stoppat",
        "undeliverable": "utan mottagare",
    }
    verbs = {"hold": "pausas", "release": "släppas", "cancel": "stoppas", "retry": "skickas igen"}
    return Reason(
        "wrong_status",
        f"Meddelandet {message_id} är {labels.get(status, status)} och kan inte "
        f"{verbs.get(action, action)}.",
    )


def edit_message(
    session: Session,
    message_id: int,
    *,
    subject: str,
    body: str,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> OutboxMessage:
    """Replace the subject and text of one queued or held e-mail (the HTML is made from the
    text). Refused once a relay has claimed it or it is sent."""
    subject, body = subject.strip(), body.strip()
    reasons = _edit_reasons(subject, body)
    if reasons:
        raise InvalidInput(reasons)
    message = session.get(OutboxMessage, message_id)
    if message is None or message.channel != "email":
        raise refusal(NotFound, "not_found", f"Meddelandet med id {message_id} finns inte.")
    before = message.payload.get("edited")
    edited = {"subject": subject, "text": body, "by": actor, "at": now.isoformat()}
    payload_type = OutboxMessage.__table__.c.payload.type  # type: ignore[attr-defined]
    changed = session.execute(
        text(
            "UPDATE outbox_message SET payload = :payload WHERE id = :id "
            "AND status IN ('queued', 'held') AND claimed_by IS NULL"
        ).bindparams(bindparam("payload", type_=payload_type)),
        {"payload": {**message.payload, "edited": edited}, "id": message_id},
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        reason = _why_not(session, message_id, "edit")
        if reason.code == "wrong_status":
            reason = Reason(
                "wrong_status", f"Meddelandet {message_id} kan bara ändras medan det väntar."
            )
        raise Conflict((reason,))
    record_audit(
        session,
        subject="outbox_message",
        subject_id=message_id,
        action="edited",
        actor=actor,
        at=now,
        note=note,
        changes={
            "subject": [(before or {}).get("subject"), subject],
            "text": [(before or {}).get("text"), body],
        },
    )
    session.expire(message)
    return message


def _edit_reasons(subject: str, body: str) -> list[Reason]:
    reasons: list[Reason] = []
    if not subject:
        reasons.append(Reason("missing_subject", "Ämnesraden behövs."))
    elif len(subject) > MAX_SUBJECT or without_unsafe_characters(subject) != subject:
        reasons.append(
            Reason(
                "invalid_subject",
                f"Ämnesraden får vara högst {MAX_SUBJECT} tecken på en rad, utan styrtecken.",
            )
        )
    if not body:
        reasons.append(Reason("missing_text", "Texten behövs."))
    elif len(body) > MAX_TEXT:
        reasons.append(
            Reason("text_too_long", f"Texten är {len(body)} tecken; högst {MAX_TEXT} går.")
        )
    return reasons
