"""Each examiner's assessment of an entry, and the team's consensus that examines it.

An examiner reads and writes only their own assessment until it is submitted; then they may
read the team's other submitted ones. Submitting locks it (the admin may reopen it, audited).
When every member has submitted, the lead writes the consensus; submitting that moves the
entry to `examined` through the one transition path (`advance_entry`), with the stage's data
(site visit, examiners) taken from the team.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from workflow.domain import examination as rules
from workflow.domain.access import Actor, Role
from workflow.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, refusal
from workflow.domain.stages import Stage
from workflow.models import Assessment, Consensus, Entry, User
from workflow.services import examination
from workflow.services._audit import record_audit


@dataclass
class Examination:
    """What every assessment use case reads: the entry, its cycle's scale and criteria, the
    team, and the assessments and consensus so far."""

    entry: Entry
    scale: rules.Scale
    criteria: list[rules.Criterion]
    team: list[examination.Member]
    assessments: dict[int, Assessment] = field(default_factory=dict)
    consensus: Consensus | None = None

    @property
    def names(self) -> dict[str, str]:
        return {str(c.id): c.name for c in self.criteria}

    def member(self, user_id: int) -> examination.Member | None:
        return next((m for m in self.team if m.user_id == user_id), None)

    @property
    def statuses(self) -> list[str]:
        return [
            self.assessments[m.user_id].status if m.user_id in self.assessments else "missing"
            for m in self.team
        ]


def load(session: Session, acting: Actor | None, entry_id: int) -> Examination:
    """The entry's examination, for the admin, the operator or a member of its team; anyone
    else is told there is no such entry (nothing leaks)."""
    entry = session.get(Entry, entry_id) if 1 <= entry_id < 2**31 else None
    if entry is None:
        raise refusal(NotFound, "not_found", f"Posten med id {entry_id} finns inte.")
    team = examination.team_of(session, entry_id)
    if acting is not None and not _may_open(acting, team):
        raise refusal(NotFound, "not_found", f"Posten med id {entry_id} finns inte.")
    setting = examination.setting_of(session, entry.cycle_id)
    rows = session.exec(select(Assessment).where(Assessment.entry_id == entry_id)).all()
    return Examination(
        entry=entry,
        scale=examination.scale_of(setting),
        criteria=examination.as_criteria(examination.criteria_of(session, entry.cycle_id)),
        team=team,
        assessments={row.examiner_id: row for row in rows},
        consensus=session.exec(select(Consensus).where(Consensus.entry_id == entry_id)).first(),
    )


def _may_open(acting: Actor, team: list[examination.Member]) -> bool:
    if acting.role == Role.ADMIN:
        return True
    return acting.role == Role.EXAMINER and any(m.user_id == acting.user_id for m in team)


def _examiner(acting: Actor | None) -> Actor:
    if acting is None or acting.role != Role.EXAMINER:
        raise refusal(Forbidden, "forbidden", "Bara examinatorer i teamet skriver bedömningar.")
    return acting


def _open_for_examination(exam: Examination) -> None:
    if exam.entry.stage != Stage.SUBMITTED.value:
        raise Conflict((rules.NOT_READY,))
    if not exam.criteria:
        raise refusal(
            Conflict, "no_criteria", "Omgången har inga bedömningsgrunder än; kontakta kansliet."
        )


def save_assessment(
    session: Session,
    *,
    entry_id: int,
    body: Mapping[str, Any],
    acting: Actor | None,
    now: datetime,
    submit: bool = False,
) -> Assessment:
    """Keep the examiner's draft (`body`: criteria, site_visit_on, interviews); with `submit`,
    also check it complete and lock it."""
    actor = _examiner(acting)
    exam = load(session, actor, entry_id)
    _open_for_examination(exam)
    row = exam.assessments.get(actor.user_id)
    if row is not None and row.status == rules.SUBMITTED:
        raise Conflict((rules.ALREADY_SUBMITTED,))
    criteria, reasons = rules.clean_criteria(body.get("criteria") or {}, exam.criteria, exam.scale)
    interviews, more = rules.clean_interviews(body.get("interviews") or {})
    site_visit_on, dated = rules.clean_site_visit(body.get("site_visit_on"))
    reasons += more + dated
    if submit and not reasons:
        reasons += rules.completeness_reasons(
            criteria, exam.names, site_visit_on=site_visit_on, interviews=interviews
        )
    if reasons:
        raise InvalidInput(reasons)
    row = row or Assessment(
        entry_id=entry_id, examiner_id=actor.user_id, criteria={}, interviews={}, updated_at=now
    )
    row.criteria, row.interviews, row.site_visit_on = criteria, interviews, site_visit_on
    row.updated_at = now
    if submit:
        row.status, row.submitted_at = rules.SUBMITTED, now
    session.add(row)
    session.flush()
    record_audit(
        session, subject="entry", subject_id=entry_id, actor=actor.name, at=now,
        action="assessment_submitted" if submit else "assessment_saved",
        changes={"examiner": [None, actor.name]},
    )  # fmt: skip
    return row


def reopen_assessment(
    session: Session,
    *,
    entry_id: int,
    examiner_id: int,
    note: str | None,
    acting: Actor | None,
    now: datetime,
) -> Assessment:
    """The admin unlocks a submitted assessment (before consensus), with why, audited."""
    actor = examination.require_admin(acting, "Bara utmärkelsens kansli öppnar en bedömning.")
    exam = load(session, acting, entry_id)
    row = exam.assessments.get(examiner_id)
    if row is None or row.status != rules.SUBMITTED:
        raise refusal(
            Conflict, "assessment_not_submitted", "Bedömningen är inte inlämnad och är redan öppen."
        )
    if exam.consensus is not None and exam.consensus.status == rules.SUBMITTED:
        raise Conflict((rules.CONSENSUS_DONE,))
    if not (note or "").strip():
        raise refusal(InvalidInput, "missing_note", "Skriv varför bedömningen öppnas igen.")
    row.status, row.submitted_at, row.updated_at = rules.DRAFT, None, now
    session.add(row)
    session.flush()
    record_audit(
        session, subject="entry", subject_id=entry_id, action="assessment_reopened",
        actor=actor, at=now, note=note, changes={"status": [rules.SUBMITTED, rules.DRAFT],
                                                 "examiner_id": [None, examiner_id]},
    )  # fmt: skip
    return row


def visible_assessments(
    session: Session, exam: Examination, acting: Actor | None
) -> list[tuple[str, Assessment]]:
    """(examiner's name, assessment) the acting user may read: all for the admin; for an
    examiner their own, and the others' submitted ones once their own is submitted."""
    is_admin = acting is None or acting.role == Role.ADMIN
    viewer = acting.user_id if acting is not None else 0
    own = exam.assessments.get(viewer)
    names = {m.user_id: m.name for m in exam.team}
    users = session.exec(select(User).where(col(User.id).in_(list(exam.assessments)))).all()
    names |= {user.id or 0: user.name for user in users}
    return [
        (names.get(author, str(author)), row)
        for author, row in exam.assessments.items()
        if rules.may_read_assessment(
            viewer, is_admin=is_admin, author_id=author, own_status=own.status if own else None
        )
        and (is_admin or author == viewer or row.status == rules.SUBMITTED)
    ]
