"""The one builder of outbox rows: their keys, payloads and recipient addresses.

Every row is written in the transaction of the change that causes it (transactional outbox)
and carries all it will ever send — see "Frozen when queued" in `workflow.outbox`. The parts a
payload may carry beyond its text context are read back by the relay through the readers at
the end of this module, so both sides of the payload format live here.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from workflow import documents
from workflow.documents.feedback import feedback_attachment
from workflow.documents.winner import documents_for_winner
from workflow.domain.calendar import entry_deadline, reminder_recipient
from workflow.domain.errors import WorkflowError
from workflow.domain.messages import MessageSpec, Recipient
from workflow.emails import Attachment, CalendarPart
from workflow.models import Cycle, Entry, Organisation, Reminder, Unit

# The payload keys of a message's frozen parts (see `workflow.outbox`, "Frozen when queued").
DOCUMENT_IDS = "attachments"  # uploaded documents, by id: stored once, never changed
MADE_FILES = "made_files"  # files made for the message when it was queued, inline
INVITATION = "invitation_ics"  # the site-visit invitation (METHOD:REQUEST or CANCEL), inline
# Rows whose key starts so are queued once however many changes ask for them: an insert
# that finds the key taken writes nothing (`workflow.writes`).
ONCE_PER_KEY = "agenda/"


# Outbox statuses a row is written with: `undeliverable` when nobody is named to receive it.
# Such a row keeps its key (and so its Message-ID) and is re-addressed, then queued, as soon
# as an address is set (`services.unreachable`); no relay ever claims it.
QUEUED = "queued"
UNDELIVERABLE = "undeliverable"
# Payload keys of the addressing: the role the message was meant for (so a later address can
# reach it), the notice "we have no address for the unit", and the copy recipients.
RECIPIENT_ROLE = "recipient_role"
UNIT_UNREACHABLE = "unit_unreachable"
CC = "cc"
ESCALATED_TO = "escalated_to"  # escalation_contact | award_office (none is set)


@dataclass(frozen=True)
class Addressing:
    """Where a message for a role goes: `to` ("" when nobody is named), whether it goes to the
    coordinator because the unit has no address, and who gets it in copy."""

    to: str
    unit_unreachable: bool = False
    cc: tuple[str, ...] = ()


def addressing_for(
    recipient: Recipient, unit: Unit, organisation: Organisation, cycle: Cycle
) -> Addressing:
    """Where a message to `recipient` about the unit's entry goes. A unit without a contact
    address is written to through its organisation's coordinator (saying so); an escalation
    goes to the organisation's escalation contact, else the award office, coordinator in copy."""
    coordinator = organisation.coordinator_email or ""
    if recipient == Recipient.UNIT_CONTACT:
        if unit.contact_email:
            return Addressing(unit.contact_email)
        return Addressing(coordinator, unit_unreachable=bool(coordinator))
    if recipient == Recipient.COORDINATOR:
        return Addressing(coordinator)
    if recipient == Recipient.ESCALATION_CONTACT:
        to = organisation.escalation_email or cycle.award_office_email or ""
        copy = (coordinator,) if coordinator and coordinator != to else ()
        return Addressing(to, cc=copy)
    return Addressing(cycle.award_office_email or "")


def address_for(recipient: Recipient, unit: Unit, organisation: Organisation, cycle: Cycle) -> str:
    """Where a message to `recipient` about the unit's entry goes ("" when nobody is named)."""
    return addressing_for(recipient, unit, organisation, cycle).to


def addressed(
    role: Recipient, unit: Unit, organisation: Organisation, cycle: Cycle
) -> tuple[str, str, dict[str, Any]]:
    """(recipient, status, payload part) of a message for `role` as the register is now."""
    addressing = addressing_for(role, unit, organisation, cycle)
    part: dict[str, Any] = {
        RECIPIENT_ROLE: role.value,
        UNIT_UNREACHABLE: addressing.unit_unreachable,
    }
    if addressing.cc:
        part[CC] = list(addressing.cc)
    if role == Recipient.ESCALATION_CONTACT:  # the letter tells the award office it is its own
        part[ESCALATED_TO] = (
            "escalation_contact" if organisation.escalation_email else "award_office"
        )
    return addressing.to, QUEUED if addressing.to else UNDELIVERABLE, part


def readdressed(
    payload: Mapping[str, Any], unit: Unit, organisation: Organisation, cycle: Cycle
) -> tuple[str, str, dict[str, Any]]:
    """(recipient, status, payload) of a message kept as undeliverable, addressed anew to the
    role it was meant for, as the register is now (still undeliverable when nobody is named).
    Only the addressing changes: key, text and parts stay as they were queued."""
    role = Recipient(payload[RECIPIENT_ROLE])
    address, status, addressing = addressed(role, unit, organisation, cycle)
    kept = {k: v for k, v in payload.items() if k not in (CC, ESCALATED_TO)}
    return address, status, {**kept, **addressing}


def message_context(
    entry: Entry, unit: Unit, organisation: Organisation, cycle: Cycle
) -> dict[str, Any]:
    """What every e-mail about an entry may say: the outbox payload's common part."""
    return {
        "entry_id": entry.id,
        "stage": entry.stage,
        "version": entry.version,
        "unit": unit.name,
        "organisation": organisation.name,
        "organisation_kind": organisation.kind,
        "board": organisation.board,
        "year": cycle.year,
        "award_class": entry.award_class,
        "facts": entry.facts,
        "pending": entry.pending,
        "award_office_email": cycle.award_office_email,
        "coordinator_email": organisation.coordinator_email,
        # The entry's own dates: an extension (förlängd tid) replaces the cycle's.
        "contribution_deadline": entry_deadline(
            cycle.contribution_deadline, entry.contribution_until
        ).isoformat(),
        "extract_deadline": entry_deadline(cycle.extract_deadline, entry.extract_until).isoformat(),
        "privately_run": unit.privately_run,
        "case_number": entry.case_number,  # every subject about the entry carries it
        # The letters name the month from the cycle's own dates, never a month written in.
        "winners_date": cycle.winners_date.isoformat(),
    }


def files_made_on_queueing(
    session: Session, entry_id: int, specs: Iterable[MessageSpec]
) -> dict[str, list[Attachment]]:
    """The files made for messages as they are queued, by kind: an agenda request carries the
    draft board report (tjänsteutlåtande) of the entry's organisation and year, made from the
    facts as they are in the queueing transaction; a feedback letter the entry's feedback
    report (återkopplingsrapport) as a PDF; a winner's outcome letter its diploma and prize
    letter. Call it where the messages are queued."""
    kinds = {spec.kind for spec in specs}
    made: dict[str, list[Attachment]] = {}
    if "feedback_letter" in kinds:
        made["feedback_letter"] = _feedback_report(session, entry_id)
    if "jury_outcome" in kinds and _won(session, entry_id):
        made["jury_outcome"] = documents_for_winner(session, entry_id)
    if "agenda_request" not in kinds:
        return made
    subject = documents.report_subject(session, entry_id)
    if subject is None:
        return made
    try:
        report = documents.report_attachment(session, *subject)
    except WorkflowError:  # nothing for the board to decide: the request goes without
        return made
    return {**made, "agenda_request": [report]}


def _won(session: Session, entry_id: int) -> bool:
    entry = session.get(Entry, entry_id)  # the queueing change's own copy, facts settled
    outcome = ((entry.facts if entry is not None else {}).get("jury") or {}).get("outcome")
    return outcome == "winner"


def _feedback_report(session: Session, entry_id: int) -> list[Attachment]:
    try:
        return [feedback_attachment(session, entry_id)]
    except WorkflowError:  # an entry examined before consensus existed: the letter goes without
        return []


def entry_message_rows(
    entry: Entry,
    unit: Unit,
    organisation: Organisation,
    cycle: Cycle,
    specs: Iterable[MessageSpec],
    *,
    now: datetime,
    document_ids: Mapping[str, Sequence[int]] | None = None,
    made_files: Mapping[str, Sequence[Attachment]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The e-mail rows a change of `entry` causes (as it is after the change), one per spec;
    one with nobody to write to is kept as undeliverable (see `addressed`). `document_ids` and
    `made_files` are each kind's attachments (uploaded documents by id; files made now, see
    `files_made_on_queueing`); `extra` joins every payload (a booked site visit and its
    invitation)."""
    context = message_context(entry, unit, organisation, cycle)
    rows = []
    for spec in specs:
        address, status, addressing = addressed(spec.recipient, unit, organisation, cycle)
        payload = {
            **context,
            "stage": spec.stage.value,
            DOCUMENT_IDS: list((document_ids or {}).get(spec.kind, [])),
            **_inline_files((made_files or {}).get(spec.kind, [])),
            **(extra or {}),
            **addressing,
        }
        key = message_key(spec.kind, entry, organisation, cycle)
        rows.append(_row(key, entry.id, "email", spec.kind, address, payload, now, status))
    return rows


def message_key(kind: str, entry: Entry, organisation: Organisation, cycle: Cycle) -> str:
    """The outbox key of an entry's message. The agenda request is the organisation's, one a
    year whichever unit registers first: its key says so, and a second insert of it is
    skipped (see `ONCE_PER_KEY`), so two registrations at once cannot both queue one."""
    if kind == "agenda_request":
        return f"{ONCE_PER_KEY}{organisation.id}/{cycle.year}"
    return f"entry/{entry.id}/v{entry.version}/{kind}"


def reminder_message_row(
    reminder: Reminder,
    entry: Entry,
    unit: Unit,
    organisation: Organisation,
    cycle: Cycle,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The e-mail a due reminder becomes, under the reminder's own key (so a replayed claim
    cannot queue it twice); undeliverable when nobody is named to receive it."""
    role = reminder_recipient(reminder.kind, reminder.deadline_kind, reminder.recipient_role)
    address, status, addressing = addressed(role, unit, organisation, cycle)
    payload = {
        **message_context(entry, unit, organisation, cycle),
        "deadline": reminder.deadline.isoformat(),
        "deadline_kind": reminder.deadline_kind,
        "days_before": reminder.days_before,
        **addressing,
    }
    return _row(reminder.key, entry.id, "email", reminder.kind, address, payload, now, status)


def webhook_event_rows(
    hook_ids: Iterable[int],
    *,
    entry_id: int,
    events: Sequence[tuple[int, str | None, str]],
    actor: str,
    at: datetime,
) -> list[dict[str, Any]]:
    """One row per webhook and event (version, from, to). The delivery id derives from the
    key, so a receiver recognises a retry of the same event."""
    rows = []
    for hook_id in hook_ids:
        for version, source, target in events:
            key = f"webhook/{hook_id}/entry/{entry_id}/v{version}"
            payload = {
                "delivery_id": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
                "event": "entry.transition",
                "entry_id": entry_id,
                "version": version,
                "from": source,
                "to": target,
                "actor": actor,
                "at": at.isoformat(),
            }
            rows.append(_row(key, entry_id, "webhook", "transition", str(hook_id), payload, at))
    return rows


def _row(
    key: str,
    entry_id: int | None,
    channel: str,
    kind: str,
    recipient: str,
    payload: dict[str, Any],
    now: datetime,
    status: str = QUEUED,
) -> dict[str, Any]:
    """A row due at once, queued unless told otherwise (attempts start at the column's 0).
    Every row names the same columns, so e-mail and webhook rows of one change go into one
    executemany."""
    return {
        "key": key,
        "entry_id": entry_id,
        "channel": channel,
        "kind": kind,
        "recipient": recipient,
        "payload": payload,
        "status": status,
        "due_at": now,
        "created_at": now,
    }


def _inline_files(files: Sequence[Attachment]) -> dict[str, Any]:
    if not files:
        return {}
    return {
        MADE_FILES: [
            {
                "filename": f.filename,
                "content_type": f.content_type,
                "base64": base64.b64encode(f.data).decode("ascii"),
            }
            for f in files
        ]
    }


# --- what the relay reads back -----------------------------------------------------------------


def document_ids_of(payload: Mapping[str, Any]) -> list[int]:
    """The uploaded documents a message carries, by id."""
    return [int(i) for i in payload.get(DOCUMENT_IDS, [])]


def made_files_of(payload: Mapping[str, Any]) -> list[Attachment]:
    """The files made for a message when it was queued, as they were then."""
    return [
        Attachment(f["filename"], f["content_type"], base64.b64decode(f["base64"]))
        for f in payload.get(MADE_FILES, [])
    ]


def cc_of(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """Who gets the message in copy (an escalation's coordinator)."""
    return tuple(str(address) for address in payload.get(CC, []) if address)


def invitation_of(payload: Mapping[str, Any]) -> CalendarPart | None:
    """The site-visit notice carries its invitation (METHOD:REQUEST) when one was stored, the
    notice of a cancelled visit its cancellation (METHOD:CANCEL)."""
    ics = payload.get(INVITATION)
    if not isinstance(ics, str) or not ics:
        return None
    return CalendarPart(ics=ics, method="CANCEL" if "\r\nMETHOD:CANCEL\r\n" in ics else "REQUEST")
