"""The team's consensus on an entry, written by the lead examiner once every member has
submitted; submitting it moves the entry to `examined` (see services/assessments.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from workflow.domain import examination as rules
from workflow.domain.access import Actor, Role
from workflow.domain.errors import Conflict, Forbidden, InvalidInput, Reason, refusal
from workflow.models import Consensus
from workflow.services._audit import record_audit
from workflow.services.assessments import Examination, load
from workflow.services.entries import advance_entry


def spreads(exam: Examination) -> dict[str, rules.Spread]:
    """Per criterion the individual scores of the submitted assessments."""
    submitted = [row.criteria for row in exam.assessments.values() if row.status == rules.SUBMITTED]
    return rules.spreads(submitted, exam.criteria)


def write_refusals(exam: Examination, acting: Actor | None) -> list[Reason]:
    """Why `acting` may not write the consensus now (empty: they may)."""
    member = exam.member(acting.user_id) if acting is not None else None
    is_lead = acting is not None and acting.role == Role.EXAMINER and bool(member and member.lead)
    reasons = rules.consensus_reasons(is_lead=is_lead, statuses=exam.statuses)
    if exam.consensus is not None and exam.consensus.status == rules.SUBMITTED:
        reasons.append(rules.CONSENSUS_DONE)
    return reasons


def save_consensus(
    session: Session,
    *,
    entry_id: int,
    body: Mapping[str, Any],
    acting: Actor | None,
    now: datetime,
    submit: bool = False,
) -> Consensus:
    """Keep the lead's consensus (`body`: criteria, summary); with `submit`, check it complete
    and examine the entry."""
    if acting is None or acting.role != Role.EXAMINER:
        raise refusal(Forbidden, "forbidden", "Bara teamets huvudexaminator skriver konsensus.")
    exam = load(session, acting, entry_id)
    refusals = write_refusals(exam, acting)
    if refusals:
        kind = Forbidden if rules.NOT_LEAD in refusals else Conflict
        raise kind(refusals)
    criteria, reasons = rules.clean_criteria(body.get("criteria") or {}, exam.criteria, exam.scale)
    summary = str(body.get("summary") or "").strip()
    if len(summary) > rules.MAX_TEXT:
        reasons.append(
            Reason("too_long", f"Sammanfattningen får vara högst {rules.MAX_TEXT} tecken.")
        )
    if submit and not reasons:
        reasons += rules.completeness_reasons(criteria, exam.names)
        if not summary:
            reasons.append(Reason("missing_summary", "Skriv en sammanfattning."))
    if reasons:
        raise InvalidInput(reasons)
    row = exam.consensus or Consensus(
        entry_id=entry_id, criteria={}, written_by=acting.name, updated_at=now
    )
    row.criteria, row.summary, row.written_by, row.updated_at = criteria, summary, acting.name, now
    if submit:
        row.status, row.submitted_at = rules.SUBMITTED, now
    session.add(row)
    session.flush()
    record_audit(
        session, subject="entry", subject_id=entry_id, actor=acting.name, at=now,
        action="consensus_submitted" if submit else "consensus_saved",
        changes={"summary": [None, summary]},
    )  # fmt: skip
    if submit:
        _examine(session, exam, acting, now)
    return row


def _examine(session: Session, exam: Examination, acting: Actor, now: datetime) -> None:
    site_visits = [row.site_visit_on for row in exam.assessments.values()]
    data = rules.examined_data(site_visits, [m.name for m in exam.team])
    advance_entry(
        session,
        entry_id=exam.entry.id or 0,
        target="examined",
        version=exam.entry.version,
        actor=acting.name,
        now=now,
        note="Konsensus fastställd av huvudexaminatorn.",
        data=data,
        # Not `acting`: the lead's right to write the consensus was checked above, and the
        # move is its consequence; no examiner may make this move by itself.
    )
