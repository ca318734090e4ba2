"""Examination set-up: a cycle's criteria and scale, and the examiner teams of its entries
(one entry at a time or a whole class at once). Admin only; each change audited; a refusal
carries every Swedish reason and changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists
from sqlmodel import Session, col, select

from workflow.auth import entry_scope
from workflow.db import get_existing
from workflow.domain import examination as rules
from workflow.domain.access import Actor, Role, examiner_conflict
from workflow.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Reason, refusal
from workflow.models import (
    Assessment,
    AssessmentCriterion,
    Consensus,
    Cycle,
    Entry,
    ExaminationSetting,
    ExaminerAssignment,
    Unit,
    User,
)
from workflow.services._audit import OPERATOR, record_audit


def require_admin(acting: Actor | None, message: str) -> str:
    """The acting user's name, once known to be the award office (None: the operator)."""
    if acting is not None and acting.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", message)
    return acting.name if acting is not None else OPERATOR


def not_found_entry(entry_id: int) -> NotFound:
    return NotFound((Reason("not_found", f"Posten med id {entry_id} finns inte."),))


def cycle_of_year(session: Session, year: int) -> Cycle:
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    return cycle


def setting_of(session: Session, cycle_id: int) -> ExaminationSetting:
    """The cycle's scale and team size (the defaults when never set)."""
    stored = session.get(ExaminationSetting, cycle_id)
    return stored if stored is not None else ExaminationSetting(cycle_id=cycle_id)


def scale_of(setting: ExaminationSetting) -> rules.Scale:
    return rules.Scale(setting.score_min, setting.score_max)


def criteria_of(session: Session, cycle_id: int) -> list[AssessmentCriterion]:
    return list(
        session.exec(
            select(AssessmentCriterion)
            .where(AssessmentCriterion.cycle_id == cycle_id)
            .order_by(col(AssessmentCriterion.position), col(AssessmentCriterion.id))
        ).all()
    )


def as_criteria(rows: Sequence[AssessmentCriterion]) -> list[rules.Criterion]:
    return [rules.Criterion(row.id or 0, row.name, row.description) for row in rows]


def criteria_locked(session: Session, cycle_id: int) -> bool:
    """Whether an assessment of the cycle has been saved: from then on the criteria hold."""
    saved = exists().where(col(Assessment.entry_id) == Entry.id, col(Entry.cycle_id) == cycle_id)
    return bool(session.exec(select(saved)).one())


@dataclass(frozen=True)
class CriteriaChange:
    criteria: Sequence[tuple[str, str]]
    score_min: int = rules.DEFAULT_SCALE[0]
    score_max: int = rules.DEFAULT_SCALE[1]
    examiners_per_entry: int = rules.DEFAULT_TEAM_SIZE


def set_criteria(
    session: Session, *, year: int, change: CriteriaChange, acting: Actor | None, now: datetime
) -> list[AssessmentCriterion]:
    """Replace the cycle's criteria, scale and team size; refused once an assessment of the
    cycle is saved (the scores given would no longer mean what they meant)."""
    actor = require_admin(acting, "Bara utmärkelsens kansli ändrar bedömningsgrunderna.")
    cycle = cycle_of_year(session, year)
    cycle_id = cycle.id or 0
    cleaned = [(name.strip(), description.strip()) for name, description in change.criteria]
    reasons = rules.criteria_reasons(cleaned)
    scale = rules.Scale(change.score_min, change.score_max)
    reasons += rules.setting_reasons(scale, change.examiners_per_entry)
    if reasons:
        raise InvalidInput(reasons)
    if criteria_locked(session, cycle_id):
        raise Conflict((rules.CRITERIA_LOCKED,))
    before = setting_of(session, cycle_id)
    old_names = [row.name for row in criteria_of(session, cycle_id)]
    old = [before.score_min, before.score_max, before.examiners_per_entry]
    session.exec(delete(AssessmentCriterion).where(col(AssessmentCriterion.cycle_id) == cycle_id))
    session.flush()
    for position, (name, description) in enumerate(cleaned, start=1):
        session.add(
            AssessmentCriterion(
                cycle_id=cycle_id, position=position, name=name, description=description
            )
        )
    stored = session.get(ExaminationSetting, cycle_id) or ExaminationSetting(cycle_id=cycle_id)
    stored.score_min, stored.score_max = scale.low, scale.high
    stored.examiners_per_entry = change.examiners_per_entry
    session.add(stored)
    session.flush()
    new = [scale.low, scale.high, change.examiners_per_entry]
    record_audit(
        session, subject="cycle", subject_id=cycle_id, action="criteria_changed", actor=actor,
        at=now, changes={"criteria": [old_names, [n for n, _ in cleaned]], "setting": [old, new]},
    )  # fmt: skip
    return criteria_of(session, cycle_id)


def seed_default_criteria(session: Session, *, year: int, now: datetime) -> None:
    """The suggested criteria (`DEFAULT_CRITERIA`) for a cycle that has none yet."""
    cycle = cycle_of_year(session, year)
    if not criteria_of(session, cycle.id or 0):
        change = CriteriaChange(rules.DEFAULT_CRITERIA)
        set_criteria(session, year=year, change=change, acting=None, now=now)


# --- teams -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    lead: bool


def team_of(session: Session, entry_id: int) -> list[Member]:
    rows = session.exec(
        select(ExaminerAssignment.user_id, User.name, ExaminerAssignment.lead)
        .join(User, col(User.id) == ExaminerAssignment.user_id)
        .where(ExaminerAssignment.entry_id == entry_id)
        .order_by(col(ExaminerAssignment.lead).desc(), col(User.name))
    ).all()
    return [Member(user_id, name, bool(lead)) for user_id, name, lead in rows]


def _candidates(session: Session, ids: Sequence[int]) -> dict[int, rules.Candidate]:
    users = session.exec(select(User).where(col(User.id).in_(list(ids)))).all()
    return {
        user.id or 0: rules.Candidate(
            user.id or 0,
            user.name,
            user.organisation_id,
            user.role == Role.EXAMINER and user.active,
        )
        for user in users
    }


def _team_refusals(
    session: Session, entry: Entry, members: Sequence[int], lead: int | None
) -> list[Reason]:
    setting = setting_of(session, entry.cycle_id)
    known = _candidates(session, members)
    reasons = rules.team_reasons(members, lead, setting.examiners_per_entry, known)
    scope = entry_scope(session, entry)
    for member in dict.fromkeys(members):
        candidate = known.get(member)
        conflict = candidate and examiner_conflict(candidate.organisation_id, scope)
        if candidate is not None and conflict:
            reasons.append(Reason(conflict.code, f"{candidate.name}: {conflict.message}"))
    started = session.exec(
        select(User.name)
        .join(Assessment, col(Assessment.examiner_id) == User.id)
        .where(Assessment.entry_id == entry.id, col(Assessment.examiner_id).not_in(list(members)))
    ).all()
    reasons += [
        Reason("assessment_started", f"{name} har redan påbörjat sin bedömning och kan inte "
               "tas bort ur teamet.")
        for name in started
    ]  # fmt: skip
    if session.exec(select(Consensus.id).where(Consensus.entry_id == entry.id)).first():
        reasons.append(rules.CONSENSUS_DONE)
    return reasons


def set_team(
    session: Session,
    *,
    entry_id: int,
    members: Sequence[int],
    lead: int | None,
    acting: Actor | None,
    now: datetime,
) -> list[Member]:
    """Make `members` the entry's examiners, `lead` their lead; every member free of jäv."""
    actor = require_admin(acting, "Bara utmärkelsens kansli tilldelar examinatorer.")
    entry = get_existing(session, Entry, entry_id, "Posten")
    reasons = _team_refusals(session, entry, members, lead)
    if reasons:
        kind = Conflict if any(r.code == "conflict_of_interest" for r in reasons) else InvalidInput
        raise kind(reasons)
    before = [m.user_id for m in team_of(session, entry_id)]
    _write_team(session, entry_id, list(dict.fromkeys(members)), lead, actor, now)
    record_audit(
        session, subject="entry", subject_id=entry_id, action="examiners_assigned", actor=actor,
        at=now, changes={"examiners": [before, list(members)], "lead": [None, lead]},
    )  # fmt: skip
    return team_of(session, entry_id)


def _write_team(
    session: Session, entry_id: int, members: list[int], lead: int | None, actor: str, now: datetime
) -> None:
    current = {
        a.user_id: a
        for a in session.exec(
            select(ExaminerAssignment).where(ExaminerAssignment.entry_id == entry_id)
        ).all()
    }
    for user_id, assignment in current.items():
        if user_id not in members:
            session.delete(assignment)
    for user_id in members:
        assignment = current.get(user_id) or ExaminerAssignment(
            entry_id=entry_id, user_id=user_id, assigned_by=actor, created_at=now
        )
        assignment.lead = user_id == lead
        session.add(assignment)
    session.flush()


def assign_class(
    session: Session,
    *,
    year: int,
    award_class: str,
    pool: Sequence[int],
    acting: Actor | None,
    now: datetime,
) -> dict[int, list[Member]]:
    """Fill every team of a class from `pool`, least loaded examiner first and never one from
    the entry's own organisation; all or nothing (entries that cannot be filled are named)."""
    require_admin(acting, "Bara utmärkelsens kansli tilldelar examinatorer.")
    cycle = cycle_of_year(session, year)
    setting = setting_of(session, cycle.id or 0)
    known = _candidates(session, pool)
    unknown = [Reason("not_found", f"Examinatorn med id {i} finns inte.")
               for i in pool if i not in known or not known[i].is_examiner]  # fmt: skip
    if unknown or not pool:
        raise InvalidInput(unknown or [Reason("no_examiners", "Välj minst en examinator.")])
    rows = session.exec(
        select(Entry.id, Unit.organisation_id, Unit.name)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(Entry.cycle_id == cycle.id, Entry.award_class == award_class)
        .where(col(Entry.stage).not_in(["withdrawn", "examined", "feedback", "jury"]))
        .order_by(col(Unit.name))
    ).all()
    if not rows:
        raise refusal(InvalidInput, "class_empty", "Klassen har inga poster att examinera.")
    teams = {
        entry_id: [m.user_id for m in team_of(session, entry_id or 0)] for entry_id, _, _ in rows
    }
    load = _load(session, cycle.id or 0)
    entries = [(entry_id or 0, org, teams[entry_id]) for entry_id, org, _ in rows]
    added, short = rules.distribute(
        entries, [known[i] for i in pool], setting.examiners_per_entry, load
    )
    if short:
        names = ", ".join(name for entry_id, _, name in rows if entry_id in short)
        raise refusal(
            Conflict, "too_few_examiners",
            f"Det finns inte tillräckligt många examinatorer utan jäv för: {names}. "
            "Välj fler examinatorer; ingenting har tilldelats.",
        )  # fmt: skip
    result: dict[int, list[Member]] = {}
    for entry_id, new in added.items():
        members = teams[entry_id] + new
        lead = next((m.user_id for m in team_of(session, entry_id) if m.lead), members[0])
        result[entry_id] = set_team(
            session, entry_id=entry_id, members=members, lead=lead, acting=acting, now=now
        )
    return result


def _load(session: Session, cycle_id: int) -> dict[int, int]:
    rows = session.exec(
        select(ExaminerAssignment.user_id)
        .join(Entry, col(Entry.id) == ExaminerAssignment.entry_id)
        .where(Entry.cycle_id == cycle_id)
    ).all()
    load: dict[int, int] = {}
    for user_id in rows:
        load[user_id] = load.get(user_id, 0) + 1
    return load
