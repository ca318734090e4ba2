"""Write to a group (skriv till en grupp): the award office's own message to every unit or
coordinator a filter chooses, previewed first, queued through the outbox like every e-mail.

One outbox row per recipient address, kind `group_message`, under the key
`group/{group_id}/{address}`; the group id derives from the sender's idempotency key, so a
double submit (the same key twice, even racing) queues nothing twice: the rows are inserted
with ON CONFLICT DO NOTHING on their unique key, and only the submit that inserted them
records the audit event.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from workflow import swedish
from workflow.db import note_outbox_written
from workflow.domain.access import Actor, Role
from workflow.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    Reason,
    refusal,
)
from workflow.domain.group_messages import (
    GroupFilter,
    GroupRecipient,
    Recipients,
    Target,
    fill,
    parse_filter,
    placeholder_values,
    recipients,
    text_reasons,
)
from workflow.emails import render_email
from workflow.models import Cycle, Organisation, OutboxMessage
from workflow.queries.group_messages import (
    GROUP_SUBJECT,
    group_event,
    group_message_events,
    group_status_counts,
    group_targets,
)
from workflow.services._audit import record_audit
from workflow.settings import Settings, get_settings

KIND = GROUP_SUBJECT  # the e-mail kind: templates/email/group_message/
MAX_AHEAD = timedelta(days=366)  # a message scheduled further ahead is surely a typo
LATE_TOLERANCE = timedelta(minutes=5)  # "now" typed on a page is a little past by the submit


@dataclass(frozen=True)
class GroupRequest:
    """A group message as asked for, before it is checked."""

    year: int | None
    subject: str
    text: str
    audience: str | None = "units"
    award_class: str | None = None
    stage: str | None = None
    organisation_id: int | None = None
    not_submitted: bool = False
    extract_missing: bool = False
    send_at: datetime | None = None  # None: at once


@dataclass(frozen=True)
class GroupDraft:
    """A checked group message: what is written, to whom, when."""

    filter: GroupFilter
    cycle: Cycle
    subject: str
    text: str
    due_at: datetime
    scheduled: bool
    targets: tuple[Target, ...]
    recipients: Recipients

    def fingerprint(self) -> str:
        """What a resubmission under the same key must repeat."""
        words = json.dumps(
            [self.filter.as_dict(), self.subject, self.text, self.due_at.isoformat()]
            if self.scheduled
            else [self.filter.as_dict(), self.subject, self.text],
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(words.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class GroupSent:
    group_id: str
    queued: int
    unreachable: int
    due_at: datetime
    repeated: bool  # the same submission again: nothing new was queued


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        raise refusal(
            Forbidden,
            "forbidden",
            "Bara kvalitetsutmärkelsens administratörer kan skriva till en grupp.",
        )


def check_group_message(
    session: Session, actor: Actor, request: GroupRequest, *, now: datetime
) -> GroupDraft:
    """The checked message with its recipients; InvalidInput with every reason it cannot be
    sent as asked (nothing is changed either way)."""
    _require_admin(actor)
    cycle = (
        session.exec(select(Cycle).where(Cycle.year == request.year)).first()
        if request.year is not None
        else None
    )
    reasons: list[Reason] = []
    if request.year is not None and cycle is None:
        reasons.append(Reason("unknown_year", f"Det finns ingen utmärkelse för år {request.year}."))
    wanted = parse_filter(
        year=request.year,
        audience=request.audience,
        award_class=request.award_class,
        stage=request.stage,
        organisation_id=request.organisation_id,
        not_submitted=request.not_submitted,
        extract_missing=request.extract_missing,
        classes=cycle.classes if cycle is not None else None,
    )
    if isinstance(wanted, list):
        reasons.extend(wanted)
    if request.organisation_id is not None and (
        session.get(Organisation, request.organisation_id) is None
    ):
        reasons.append(
            Reason(
                "unknown_organisation",
                f"Organisationen med id {request.organisation_id} finns inte.",
            )
        )
    reasons.extend(text_reasons(request.subject, request.text))
    reasons.extend(_time_reasons(request.send_at, now))
    if reasons or isinstance(wanted, list) or cycle is None:
        raise InvalidInput(reasons)
    targets = tuple(group_targets(session, cycle, wanted))
    return GroupDraft(
        filter=wanted,
        cycle=cycle,
        subject=request.subject.strip(),
        text=_plain(request.text),
        due_at=request.send_at if request.send_at is not None else now,
        scheduled=request.send_at is not None,
        targets=targets,
        recipients=recipients(targets, wanted.audience),
    )


def _time_reasons(send_at: datetime | None, now: datetime) -> list[Reason]:
    if send_at is None:
        return []
    if send_at.tzinfo is None or send_at.utcoffset() is None:
        return [Reason("invalid_time", "Ange tiden med tidszon.")]
    try:
        passed, too_far = send_at < now - LATE_TOLERANCE, send_at > now + MAX_AHEAD
    except OverflowError:  # year 1 or 9999 with an offset: no moment in UTC at all
        passed, too_far = send_at.year < now.year, send_at.year > now.year
    if passed:
        return [Reason("time_passed", "Tiden för utskicket har redan passerat. Välj en senare.")]
    if too_far:
        return [Reason("time_too_far", "Ett utskick kan planeras högst ett år framåt.")]
    return []


def _plain(text: str) -> str:
    """The text as it is stored: Unix line breaks, no trailing spaces, no blank ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def message_payload(
    draft: GroupDraft, recipient: GroupRecipient, group_id: str, settings: Settings
) -> dict[str, Any]:
    """The outbox payload of one recipient's message: the words filled in for them."""
    values = placeholder_values(
        recipient.targets,
        public_url=settings.public_url,
        extract=draft.filter.extract_missing,
        date_words=swedish.datum,
    )
    single = recipient.targets[0] if len(recipient.targets) == 1 else None
    return {
        "group_id": group_id,
        "group_subject": fill(draft.subject, values),
        "group_text": fill(draft.text, values),
        "roles": list(recipient.roles),
        "entry_ids": [t.entry_id for t in recipient.targets],
        "unit": values["enhet"],
        "organisation": values["organisation"],
        "year": draft.cycle.year,
        "award_office_email": draft.cycle.award_office_email,
        # One entry: its diarienummer goes in the subject, as on every e-mail about it.
        "case_number": single.case_number if single is not None else None,
    }


def _example(draft: GroupDraft, settings: Settings) -> dict[str, str] | None:
    """The first recipient's message as it will arrive: address, subject and text."""
    if not draft.recipients.reached:
        return None
    first = draft.recipients.reached[0]
    message = render_email(
        KIND,
        to=first.address,
        context=message_payload(draft, first, "preview", settings),
        key="group/preview",
        date=draft.due_at,
        settings=settings,
    )
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return {"to": first.address, "subject": str(message["Subject"]), "text": str(text)}


def preview_group_message(
    session: Session,
    actor: Actor,
    request: GroupRequest,
    *,
    now: datetime,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Who would receive the message, who cannot be reached, and one example; nothing is
    queued."""
    draft = check_group_message(session, actor, request, now=now)
    return {
        **_summary(draft),
        "example": _example(draft, settings or get_settings()),
    }


def _summary(draft: GroupDraft) -> dict[str, Any]:
    return {
        "filter": draft.filter.as_dict(),
        "subject": draft.subject,
        "text": draft.text,
        "send_at": draft.due_at.isoformat() if draft.scheduled else None,
        "matched": len(draft.targets),
        "recipients": [
            {
                "address": r.address,
                "roles": list(r.roles),
                "units": [t.unit for t in r.targets],
                "entry_ids": [t.entry_id for t in r.targets],
            }
            for r in draft.recipients.reached
        ],
        "unreachable": [
            {
                "entry_id": u.target.entry_id,
                "unit": u.target.unit,
                "organisation": u.target.organisation,
                "missing": u.missing,
            }
            for u in draft.recipients.unreachable
        ],
    }


def group_id_for(actor: Actor, idempotency_key: str | None) -> str:
    """The group's id: derived from the sender's key (the same key, the same group), or new."""
    if not idempotency_key:
        return secrets.token_hex(10)
    seed = f"{actor.user_id}\n{idempotency_key}".encode()
    return hashlib.sha256(seed).hexdigest()[:20]


def send_group_message(
    session: Session,
    actor: Actor,
    request: GroupRequest,
    *,
    idempotency_key: str | None,
    now: datetime,
    settings: Settings | None = None,
) -> GroupSent:
    """Queue one message per recipient, due at once or at the chosen time. The same key again
    returns the first submission's result and queues nothing; a different message under a key
    already used is a Conflict."""
    draft = check_group_message(session, actor, request, now=now)
    group_id = group_id_for(actor, idempotency_key)
    _take_turns(session, group_id)
    earlier = group_event(session, group_id)
    if earlier is not None:
        return _repeated(earlier.changes, draft)
    if not draft.recipients.reached:
        raise refusal(
            InvalidInput,
            "no_recipients",
            "Ingen i urvalet kan nås med e-post, så inget skickas. Ändra urvalet eller lägg "
            "in e-postadresser först.",
        )
    settings = settings or get_settings()
    rows = [
        {
            "key": f"group/{group_id}/{recipient.address.lower()}",
            "entry_id": recipient.targets[0].entry_id if "unit" in recipient.roles else None,
            "channel": "email",
            "kind": KIND,
            "recipient": recipient.address,
            "payload": message_payload(draft, recipient, group_id, settings),
            "status": "queued",
            "due_at": draft.due_at,
            # The Date header is the row's creation: a scheduled message is dated when it goes.
            "created_at": draft.due_at,
        }
        for recipient in draft.recipients.reached
    ]
    inserted = _insert_new(session, rows, group_id)
    if not inserted:  # a racing submit with the same key queued them first
        return GroupSent(group_id, len(rows), len(draft.recipients.unreachable), draft.due_at, True)
    note_outbox_written(session)
    record_audit(
        session,
        subject=GROUP_SUBJECT,
        subject_id=inserted[0],
        action="queued",
        actor=actor.name,
        at=now,
        changes={
            "group_id": group_id,
            "fingerprint": draft.fingerprint(),
            "filter": draft.filter.as_dict(),
            "subject": draft.subject,
            "text": draft.text,
            "send_at": draft.due_at.isoformat() if draft.scheduled else None,
            "matched": len(draft.targets),
            "due_at": draft.due_at.isoformat(),
            "recipients": len(rows),
            "unreachable": len(draft.recipients.unreachable),
        },
    )
    return GroupSent(group_id, inserted[1], len(draft.recipients.unreachable), draft.due_at, False)


def _repeated(changes: dict[str, Any], draft: GroupDraft) -> GroupSent:
    if changes.get("fingerprint") != draft.fingerprint():
        raise refusal(
            Conflict,
            "idempotency_key_reused",
            "Nyckeln har redan använts för ett annat meddelande. Skicka det nya meddelandet "
            "med en ny nyckel.",
        )
    return GroupSent(
        group_id=str(changes["group_id"]),
        queued=int(changes["recipients"]),
        unreachable=int(changes["unreachable"]),
        due_at=datetime.fromisoformat(str(changes["due_at"])),
        repeated=True,
    )


def _take_turns(session: Session, group_id: str) -> None:
    """Two submits of one group take turns from here to their commit on PostgreSQL (a
    transaction-scoped advisory lock), so the second finds the first's audit event. SQLite
    serialises writers anyway; there the unique keys and the insert's row count decide."""
    if session.get_bind().dialect.name == "postgresql":
        lock = int(group_id[:15], 16)  # 60 bits of the group id: within a signed bigint
        session.connection().execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})


def _insert_new(session: Session, rows: list[dict[str, Any]], group_id: str) -> list[int]:
    """Insert the rows whose key is not taken, in one executemany; the (first id, how many)
    of those this call inserted, or [] when a racing submit had inserted them all."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).on_conflict_do_nothing(index_elements=["key"])
    result = session.connection().execute(statement, rows)
    # sqlite3 sums an executemany's rows; psycopg's reports -1, but on PostgreSQL this submit
    # holds its group's lock (`_take_turns`) and found no earlier one, so every row is new.
    inserted = len(rows) if dialect == "postgresql" else result.rowcount
    if not inserted:
        return []
    # The group's keys are one range of the unique index: "group/<id>/" up to "group/<id>0".
    first = (
        session.connection()
        .execute(
            sa_select(func.min(table.c.id)).where(
                table.c.key >= f"group/{group_id}/", table.c.key < f"group/{group_id}0"
            )
        )
        .scalar_one()
    )
    return [int(first), int(inserted)]


def group_messages(session: Session, actor: Actor, *, limit: int = 200) -> list[dict[str, Any]]:
    """The group messages queued, newest first, with how many of each are sent so far."""
    _require_admin(actor)
    listed = []
    for event in group_message_events(session, limit=limit):
        changes = event.changes
        listed.append(
            {
                "group_id": changes["group_id"],
                "subject": changes["subject"],
                "text": changes["text"],
                "filter": changes["filter"],
                "queued_by": event.actor,
                "queued_at": event.at.isoformat(),
                "due_at": changes["due_at"],
                "recipients": changes["recipients"],
                "unreachable": changes["unreachable"],
                "statuses": group_status_counts(session, str(changes["group_id"])),
            }
        )
    return listed


__all__ = [
    "KIND",
    "GroupDraft",
    "GroupRequest",
    "GroupSent",
    "check_group_message",
    "group_id_for",
    "group_messages",
    "preview_group_message",
    "send_group_message",
]
