"""Give one entry more time (förlängd tid) for its contribution or its minutes extract.

The entry keeps its own date beside the cycle's; its pending reminders are planned again
against that date (the same 14/7/2/0 days, overdue and escalation), the history and the audit
trail record old → new and why, and whoever the deadline concerns is told the new date.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from workflow import reminders
from workflow.auth import scope_for
from workflow.domain.access import Actor, can_see
from workflow.domain.calendar import entry_deadline
from workflow.domain.corrections import (
    DeadlineKind,
    ExtensionSubject,
    extension_reasons,
    may_extend,
    parse_deadline_kind,
    unknown_deadline,
)
from workflow.domain.errors import Forbidden, InvalidInput, TransitionRefused, not_found
from workflow.domain.messages import MessageSpec, Recipient
from workflow.domain.stages import Stage
from workflow.models import MAX_ID, Entry
from workflow.services._audit import record_audit
from workflow.services._calendar import calendar_before, calendar_change_rows
from workflow.services._change import (
    change_of,
    history_row,
    settle,
    settle_columns,
    write_change,
)
from workflow.services.entries import Loaded, load_for_change, message_rows

# The entry's column that holds each kind's own date.
UNTIL_COLUMN = {
    DeadlineKind.CONTRIBUTION: "contribution_until",
    DeadlineKind.EXTRACT: "extract_until",
}
# Who is told the new date: whoever the deadline asks to act.
_TOLD = {
    DeadlineKind.CONTRIBUTION: Recipient.UNIT_CONTACT,
    DeadlineKind.EXTRACT: Recipient.COORDINATOR,
}
# Refusals about the entry's state rather than the date asked for.
_STATE_CODES = frozenset({"entry_closed", "deadline_already_met", "no_extract_for_privately_run"})


def check_entry_access(session: Session, acting: Actor | None, entry_id: int) -> None:
    """NotFound for an entry `acting` may not see, as for one that does not exist."""
    if acting is None:
        return
    scope = scope_for(session, acting, entry_id) if 1 <= entry_id <= MAX_ID else None
    if scope is None or not can_see(acting, scope):
        raise not_found("Posten", entry_id)


def extend_deadline(
    session: Session,
    *,
    entry_id: int,
    deadline: str,
    until: date,
    note: str | None,
    actor: str,
    now: datetime,
    version: int | None = None,
    acting: Actor | None = None,
) -> Entry:
    """Give the entry until `until` for `deadline` ("contribution" or "extract").

    Refused (nothing changed) when the date is not after the cycle's own date or not before the
    winners' day, the deadline kind is unknown, the entry already has what the deadline is for,
    the note is missing, or — with `version` — the entry changed since (StaleVersion). Only the
    award office (admin) extends; with `acting`, checked.
    """
    check_entry_access(session, acting, entry_id)
    forbidden = may_extend(acting)
    if forbidden is not None:
        raise Forbidden((forbidden,))
    kind = parse_deadline_kind(deadline)
    if kind is None:
        raise InvalidInput((unknown_deadline(deadline),))
    loaded = load_for_change(session, entry_id, version)
    entry, cycle = loaded.entry, loaded.cycle
    column = UNTIL_COLUMN[kind]
    cycle_date = (
        cycle.contribution_deadline if kind == DeadlineKind.CONTRIBUTION else cycle.extract_deadline
    )
    current: date | None = getattr(entry, column)
    subject = ExtensionSubject(
        stage=Stage(entry.stage),
        privately_run=loaded.unit.privately_run,
        has_contribution=Stage.SUBMITTED in entry.facts or Stage.SUBMITTED in entry.pending,
        has_extract=Stage.EXTRACT_SENT in entry.facts,
        cycle_date=cycle_date,
        winners_date=cycle.winners_date,
        current_until=current,
    )
    reasons = extension_reasons(kind, until, subject, note=note)
    if reasons:
        state = any(reason.code in _STATE_CODES for reason in reasons)
        raise (TransitionRefused if state else InvalidInput)(reasons)
    before = entry_deadline(cycle_date, current)
    _write_extension(
        session, loaded, kind, until, before, note=(note or "").strip(), actor=actor, now=now
    )
    record_audit(
        session,
        subject="entry",
        subject_id=entry_id,
        action="extended",
        actor=actor,
        at=now,
        changes={column: [current.isoformat() if current else None, until.isoformat()]},
        note=(note or "").strip(),
    )
    return entry


def _write_extension(
    session: Session,
    loaded: Loaded,
    kind: DeadlineKind,
    until: date,
    before: date,
    *,
    note: str,
    actor: str,
    now: datetime,
) -> None:
    """One change of the entry: the new date, its history event, the e-mail telling it, and
    the reminders planned again against it."""
    entry, unit, cycle = loaded.entry, loaded.unit, loaded.cycle
    entry_id, version = entry.id or 0, entry.version
    stage = Stage(entry.stage)
    data: dict[str, Any] = {
        "change": "extension",
        "deadline": kind.value,
        "until_before": before.isoformat(),
        "until": until.isoformat(),
    }
    history = [
        history_row(entry_id, version + 1, stage, stage, actor=actor, at=now, note=note, data=data)
    ]
    columns = {UNTIL_COLUMN[kind]: until}
    calendar = calendar_before(entry)
    settle(entry, stage, version + 1, entry.facts, entry.pending, now)
    settle_columns(entry, columns)
    told = [MessageSpec("deadline_extended", _TOLD[kind], stage)]
    extra = {
        "deadline_kind": kind.value,
        "extended_until": until.isoformat(),
        "previous_deadline": before.isoformat(),
    }
    outbox = message_rows(
        session, entry, unit, loaded.organisation, cycle, told, now=now, extra=extra
    )
    outbox += calendar_change_rows(
        session, entry, unit, loaded.organisation, cycle, calendar, now=now
    )
    change = change_of(entry, version, history, outbox)
    change.reminders = reminders.reminder_changes(session.connection(), entry, unit, cycle, now)
    write_change(session, change, entry, columns)
