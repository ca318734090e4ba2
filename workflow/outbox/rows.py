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
from datetime import datetime
from typing import Any

from sqlmodel import Session

from workflow import documents
from workflow.documents.feedback import feedback_attachment
from workflow.domain.calendar import entry_deadline
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


def address_for(recipient: Recipient, unit: Unit, organisation: Organisation, cycle: Cycle) -> str:
    """Where a message to `recipient` about the unit's entry goes ("" when nobody is named)."""
    addresses = {
        Recipient.UNIT_CONTACT: unit.contact_email,
        Recipient.COORDINATOR: organisation.coordinator_email,
        Recipient.AWARD_OFFICE: cycle.award_office_email,
    }
    return addresses[recipient] or ""


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
    report (återkopplingsrapport) as a PDF. Call it where the messages are queued."""
    kinds = {spec.kind for spec in specs}
    made: dict[str, list[Attachment]] = {}
    if "feedback_letter" in kinds:
        made["feedback_letter"] = _feedback_report(session, entry_id)
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
    """The e-mail rows a change of `entry` causes (as it is after the change), one per spec
    with somebody to write to. `document_ids` and `made_files` are each kind's attachments
    (uploaded documents by id; files made now, see `files_made_on_queueing`); `extra` joins
    every payload (a booked site visit and its invitation)."""
    context = message_context(entry, unit, organisation, cycle)
    rows = []
    for spec in specs:
        address = address_for(spec.recipient, unit, organisation, cycle)
        if not address:  # nobody to write to: the entry page shows the missing address
            continue
        payload = {
            **context,
            "stage": spec.stage.value,
            DOCUMENT_IDS: list((document_ids or {}).get(spec.kind, [])),
            **_inline_files((made_files or {}).get(spec.kind, [])),
            **(extra or {}),
        }
        key = message_key(spec.kind, entry, organisation, cycle)
        rows.append(_row(key, entry.id, "email", spec.kind, address, payload, now))
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
) -> dict[str, Any] | None:
    """The e-mail a due reminder becomes, under the reminder's own key (so a replayed claim
    cannot queue it twice); None when nobody is named to receive it."""
    address = address_for(Recipient(reminder.recipient_role), unit, organisation, cycle)
    if not address:
        return None
    payload = {
        **message_context(entry, unit, organisation, cycle),
        "deadline": reminder.deadline.isoformat(),
        "deadline_kind": reminder.deadline_kind,
        "days_before": reminder.days_before,
    }
    return _row(reminder.key, entry.id, "email", reminder.kind, address, payload, now)


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
) -> dict[str, Any]:
    """A queued row, due at once (attempts start at the column's 0). Every row names the same
    columns, so e-mail and webhook rows of one change go into one executemany."""
    return {
        "key": key,
        "entry_id": entry_id,
        "channel": channel,
        "kind": kind,
        "recipient": recipient,
        "payload": payload,
        "status": "queued",
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


def invitation_of(payload: Mapping[str, Any]) -> CalendarPart | None:
    """The site-visit notice carries its invitation (METHOD:REQUEST) when one was stored, the
    notice of a cancelled visit its cancellation (METHOD:CANCEL)."""
    ics = payload.get(INVITATION)
    if not isinstance(ics, str) or not ics:
        return None
    return CalendarPart(ics=ics, method="CANCEL" if "\r\nMETHOD:CANCEL\r\n" in ics else "REQUEST")
