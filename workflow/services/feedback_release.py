"""Releasing a cycle's feedback reports at once (återkoppling), for all entries or one class.

The admin releases now or at a chosen moment. A release for later is a `feedback_release` row;
`release_due_feedback` (run by the periodic sweep) carries it out when due. Carrying out a
release is one transaction: refused with every unit's name when an entry of its scope lacks
consensus (nothing changed), else each examined entry moves `examined → feedback` through the
one transition path (`advance_entry`), which queues its feedback letter with the report as a
PDF in the outbox. Entries already released are left alone, so a second release of the same
scope queues nothing again. Until an entry is released, only the admin and its examiners can
fetch its report (`report_for_reader`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from workflow import swedish
from workflow.auth import scope_for
from workflow.db import transaction
from workflow.documents.feedback import feedback_report
from workflow.domain import feedback as rules
from workflow.domain.access import Actor
from workflow.domain.errors import Conflict, InvalidInput, NotFound, WorkflowError, refusal
from workflow.domain.stages import Stage
from workflow.models import (
    AssessmentCriterion,
    Consensus,
    Cycle,
    Entry,
    FeedbackRelease,
    Unit,
)
from workflow.services._audit import record_audit
from workflow.services.entries import advance_entry, class_in_cycle
from workflow.services.examination import cycle_of_year, require_admin

RELEASE_NOTE = "Återkopplingen släpptes av kvalitetsutmärkelsens kansli."


@dataclass(frozen=True)
class ClassReadiness:
    """Per class: how many entries are ready to release, which lack consensus, how many
    are released already."""

    award_class: str
    ready: int
    released: int
    lacking: tuple[str, ...]  # unit names


@dataclass(frozen=True)
class _Candidate:
    entry_id: int
    version: int
    stage: Stage
    unit_name: str
    award_class: str
    has_consensus: bool


def _candidates(session: Session, cycle: Cycle, award_class: str | None) -> list[_Candidate]:
    query = (
        sa_select(
            col(Entry.id),
            col(Entry.version),
            col(Entry.stage),
            col(Unit.name),
            col(Entry.award_class),
            col(Consensus.status),
        )
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .outerjoin(Consensus, col(Consensus.entry_id) == Entry.id)
        .where(col(Entry.cycle_id) == cycle.id, col(Entry.stage) != Stage.WITHDRAWN.value)
        .order_by(col(Entry.id))
    )
    if award_class is not None:
        query = query.where(col(Entry.award_class) == award_class)
    return [
        _Candidate(int(i or 0), v, Stage(s), name, c, status == "submitted")
        for i, v, s, name, c, status in session.execute(query).all()
    ]


def readiness(session: Session, *, year: int, acting: Actor | None) -> list[ClassReadiness]:
    """Per class of the cycle (admin only): what a release would do now."""
    require_admin(acting, "Bara kvalitetsutmärkelsens kansli ser läget för återkopplingen.")
    cycle = cycle_of_year(session, year)
    found = _candidates(session, cycle, None)
    out = []
    for code in cycle.classes:
        rows = [c for c in found if c.award_class == code]
        released = [c for c in rows if c.stage in rules.RELEASED_STAGES]
        lacking = [c for c in rows if c not in released and not _ready(c)]
        out.append(
            ClassReadiness(
                code, len(rows) - len(released) - len(lacking), len(released),
                tuple(sorted((c.unit_name for c in lacking), key=str.casefold)),
            )
        )  # fmt: skip
    return out


def _ready(candidate: _Candidate) -> bool:
    return candidate.stage == Stage.EXAMINED and candidate.has_consensus


def release_feedback(
    session: Session,
    *,
    year: int,
    award_class: str | None = None,
    at: datetime | None = None,
    acting: Actor | None,
    now: datetime,
) -> FeedbackRelease:
    """Release the cycle's (or one class's) feedback now, or keep the release for `at`.

    Admin only (None: the operator). Refused (InvalidInput) for an unknown class or a moment
    without a time zone; carried out now, refused (Conflict) when entries lack consensus,
    listing them by unit name, with nothing changed.
    """
    actor = require_admin(acting, "Bara kvalitetsutmärkelsens kansli släpper återkopplingen.")
    cycle = cycle_of_year(session, year)
    code = class_in_cycle(award_class, cycle) if award_class else None
    if at is not None and at.tzinfo is None:
        raise refusal(
            InvalidInput, "naive_time", "Ange tidpunkten med tidszon, t.ex. 2024-10-01T09:00+02:00."
        )
    release = FeedbackRelease(
        cycle_id=cycle.id or 0, award_class=code, due_at=at if at and at > now else now,
        requested_by=actor, created_at=now, reasons=[],
    )  # fmt: skip
    session.add(release)
    session.flush()
    if at is not None and at > now:
        _audit(session, cycle, release, actor, now, "feedback_release_scheduled")
        return release
    _carry_out(session, cycle, release, actor, now)
    return release


def cancel_release(
    session: Session, *, release_id: int, acting: Actor | None, now: datetime
) -> FeedbackRelease:
    """Withdraw a release kept for later (admin only); one already carried out stays."""
    actor = require_admin(acting, "Bara kvalitetsutmärkelsens kansli ändrar släppet.")
    release = session.get(FeedbackRelease, release_id) if 1 <= release_id < 2**31 else None
    if release is None:
        raise refusal(NotFound, "not_found", f"Det finns inget släpp med id {release_id}.")
    if release.status != rules.SCHEDULED:
        raise refusal(Conflict, "not_scheduled", "Släppet är redan genomfört och kan inte ångras.")
    release.status, release.done_at = "cancelled", now
    session.add(release)
    cycle = session.get(Cycle, release.cycle_id)
    assert cycle is not None  # the foreign key holds it
    _audit(session, cycle, release, actor, now, "feedback_release_cancelled")
    return release


def _scope(cycle: Cycle, award_class: str | None) -> str:
    if award_class is None:
        return f"kvalitetsutmärkelsen {cycle.year}"
    return f"klassen {swedish.klass(award_class)} {cycle.year}"


def _carry_out(
    session: Session, cycle: Cycle, release: FeedbackRelease, actor: str, now: datetime
) -> None:
    found = _candidates(session, cycle, release.award_class)
    if not found:
        raise refusal(
            Conflict,
            "no_entries",
            f"Det finns inga anmälningar i {_scope(cycle, release.award_class)} att släppa "
            "återkoppling för.",
        )
    waiting = [c for c in found if c.stage not in rules.RELEASED_STAGES]
    lacking = [c.unit_name for c in waiting if not _ready(c)]
    if lacking:
        raise Conflict((rules.lacking_consensus(lacking, _scope(cycle, release.award_class)),))
    names = [
        (str(i), name)
        for i, name in session.exec(
            select(AssessmentCriterion.id, AssessmentCriterion.name)
            .where(AssessmentCriterion.cycle_id == cycle.id)
            .order_by(col(AssessmentCriterion.position), col(AssessmentCriterion.id))
        ).all()
    ]
    for candidate in waiting:
        _release_entry(session, candidate, names, actor, now)
    release.status, release.done_at, release.released = rules.DONE, now, len(waiting)
    session.add(release)
    _audit(session, cycle, release, actor, now, "feedback_released")


def _release_entry(
    session: Session,
    candidate: _Candidate,
    names: Sequence[tuple[str, str]],
    actor: str,
    now: datetime,
) -> None:
    consensus = session.exec(
        select(Consensus).where(Consensus.entry_id == candidate.entry_id)
    ).one()
    criteria = rules.criteria_feedback(names, consensus.criteria)
    advance_entry(
        session, entry_id=candidate.entry_id, target=Stage.FEEDBACK, version=candidate.version,
        actor=actor, now=now, note=RELEASE_NOTE,
        data=rules.feedback_stage_data(criteria, consensus.summary),
    )  # fmt: skip
    session.expunge(consensus)  # a release of a thousand keeps no thousand consensus rows


def _audit(
    session: Session,
    cycle: Cycle,
    release: FeedbackRelease,
    actor: str,
    now: datetime,
    action: str,
) -> None:
    record_audit(
        session, subject="cycle", subject_id=cycle.id or 0, action=action, actor=actor, at=now,
        changes={
            "release_id": [None, release.id], "award_class": [None, release.award_class],
            "due_at": [None, release.due_at.isoformat()], "status": [None, release.status],
            "released": [None, release.released],
        },
    )  # fmt: skip


def release_due_feedback(engine: Engine, *, now: datetime) -> int:
    """Carry out every release kept for a moment now passed; the number of entries released.
    Each release is claimed by a conditional update in its own transaction, so two sweeps at
    once carry it out once; one refused (entries still lacking consensus) is marked `refused`
    with its reasons, and the cycle page shows them."""
    with transaction(engine) as session:
        due = session.exec(
            select(FeedbackRelease.id).where(
                FeedbackRelease.status == rules.SCHEDULED, col(FeedbackRelease.due_at) <= now
            )
        ).all()
    released = 0
    for release_id in due:
        try:
            with transaction(engine) as session:
                released += _carry_out_claimed(session, int(release_id or 0), now)
        except WorkflowError as refused:
            with transaction(engine) as session:
                session.execute(
                    update(FeedbackRelease)
                    .where(
                        col(FeedbackRelease.id) == release_id,
                        col(FeedbackRelease.status) == rules.SCHEDULED,
                    )
                    .values(
                        status=rules.REFUSED, done_at=now,
                        reasons=[reason.message for reason in refused.reasons],
                    )
                )  # fmt: skip
                record_audit(
                    session, subject="feedback_release", subject_id=int(release_id or 0),
                    action="feedback_release_refused", actor="schemalagt släpp", at=now,
                    changes={"status": [rules.SCHEDULED, rules.REFUSED]},
                    note=" ".join(reason.message for reason in refused.reasons),
                )  # fmt: skip
    return released


def _carry_out_claimed(session: Session, release_id: int, now: datetime) -> int:
    claimed = session.execute(
        update(FeedbackRelease)
        .where(
            col(FeedbackRelease.id) == release_id, col(FeedbackRelease.status) == rules.SCHEDULED
        )
        .values(status="running")
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return 0  # another sweep has it
    release = session.get(FeedbackRelease, release_id)
    cycle = session.get(Cycle, release.cycle_id) if release else None
    if release is None or cycle is None:
        return 0
    session.refresh(release)
    _carry_out(session, cycle, release, release.requested_by, now)
    return release.released


# --- who may read a report ------------------------------------------------------------------


def report_for_reader(
    session: Session, acting: Actor, entry_id: int, fmt: str
) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of the entry's feedback report, for someone who may
    read it (`domain.feedback.may_read_report`); anyone else is told there is no such report
    (NotFound), so nothing leaks before the release."""
    scope = scope_for(session, acting, entry_id) if 1 <= entry_id < 2**31 else None
    if scope is None or not rules.may_read_report(acting, scope):
        raise refusal(
            NotFound, "not_found", f"Det finns ingen återkopplingsrapport för posten {entry_id}."
        )
    return feedback_report(session, entry_id, fmt)
