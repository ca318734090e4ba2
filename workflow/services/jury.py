"""The jury committee: its members and chair, the jury pack per class, the members'
recommendations, the chair's embargoed decision, and the announcement that makes it public.

The decision lives only in `jury_decision` until the announcement: nothing about it reaches an
entry's facts, history, outbox or webhooks before then, so every read of other roles (API,
pages, exports, feeds) shows nothing by construction. The announcement moves each decided
entry to `jury` through `advance_entry` (which queues the outcome e-mail with the move), once:
an entry in `jury` is closed, and a second announcement is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from workflow.domain import jury as rules
from workflow.domain.access import Actor, Role
from workflow.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Reason,
    WorkflowError,
)
from workflow.domain.rules import AWARD_CLASSES
from workflow.domain.stages import Stage
from workflow.models import (
    AssessmentCriterion,
    Consensus,
    Cycle,
    Entry,
    JuryAnnouncement,
    JuryDecision,
    JuryMember,
    JuryRecommendation,
    Organisation,
    Unit,
    User,
)
from workflow.services._audit import OPERATOR, record_audit
from workflow.services.entries import advance_entry, class_in_cycle
from workflow.services.examination import cycle_of_year, require_admin

log = logging.getLogger(__name__)

# --- the committee ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    chair: bool


def members_of(session: Session, cycle_id: int) -> list[Member]:
    rows = session.exec(
        select(JuryMember, User)
        .join(User, col(User.id) == JuryMember.user_id)
        .where(JuryMember.cycle_id == cycle_id)
        .order_by(col(JuryMember.chair).desc(), col(User.name))
    ).all()
    return [Member(m.user_id, u.name, m.chair) for m, u in rows]


def set_members(
    session: Session,
    *,
    year: int,
    members: Sequence[int],
    chair: int | Sequence[int] | None,
    acting: Actor | None,
    now: datetime,
) -> list[Member]:
    """Replace the cycle's committee (admin); exactly one chair, among the members."""
    actor = require_admin(acting, "Bara utmärkelsens kansli utser juryn.")
    cycle = cycle_of_year(session, year)
    _not_announced(session, cycle)
    chairs = [chair] if isinstance(chair, int) else list(chair or [])
    users = session.exec(select(User).where(col(User.id).in_(list(members)))).all()
    roles = {u.id or 0: (u.role if u.active else "inactive") for u in users}
    reasons = rules.committee_reasons(list(members), chairs, roles)
    if reasons:
        raise InvalidInput(reasons)
    before = [(m.name, m.chair) for m in members_of(session, cycle.id or 0)]
    for row in session.exec(select(JuryMember).where(JuryMember.cycle_id == cycle.id)).all():
        session.delete(row)
    session.flush()
    for user_id in members:
        session.add(
            JuryMember(
                cycle_id=cycle.id or 0, user_id=user_id, chair=user_id == chairs[0],
                assigned_by=actor, created_at=now,
            )
        )  # fmt: skip
    session.flush()
    after = members_of(session, cycle.id or 0)
    record_audit(
        session, subject="cycle", subject_id=cycle.id or 0, actor=actor, at=now,
        action="jury_members_set",
        changes={"jury": [before, [(m.name, m.chair) for m in after]]},
    )  # fmt: skip
    return after


def _membership(session: Session, acting: Actor, cycle: Cycle) -> JuryMember | None:
    return session.exec(
        select(JuryMember).where(
            JuryMember.cycle_id == cycle.id, JuryMember.user_id == acting.user_id
        )
    ).first()


def require_jury(session: Session, acting: Actor | None, cycle: Cycle) -> JuryMember | None:
    """The acting member (None: the admin or the operator). A jury user outside this
    cycle's committee is told there is no such cycle (404); every other role 403."""
    if acting is None or acting.role == Role.ADMIN:
        return None
    if acting.role != Role.JURY:
        raise Forbidden((_JURY_ONLY,))
    member = _membership(session, acting, cycle)
    if member is None:
        raise NotFound((rules.NOT_MEMBER,))
    return member


_JURY_ONLY = Reason("forbidden", "Bara juryn och utmärkelsens kansli ser juryns underlag.")


# --- the pack --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackItem:
    rank: int
    entry_id: int
    unit: str
    organisation: str
    score: float | None
    summary: str
    scores: list[tuple[str, int | None]]
    budget_in_balance: bool


@dataclass
class ClassView:
    """What the jury reads of one class (never shown to other roles before the announcement)."""

    year: int
    award_class: str
    class_name: str
    candidates: list[rules.Candidate]
    items: list[PackItem]
    decision: JuryDecision | None
    recommendations: list[tuple[str, JuryRecommendation]] = field(default_factory=list)
    announced: bool = False


def _candidates(
    session: Session, cycle: Cycle, award_class: str
) -> tuple[list[rules.Candidate], list[PackItem]]:
    rows = session.exec(
        select(Entry, Unit, Organisation, Consensus)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .outerjoin(Consensus, col(Consensus.entry_id) == Entry.id)
        .where(
            Entry.cycle_id == cycle.id,
            Entry.award_class == award_class,
            Entry.stage != Stage.WITHDRAWN.value,
        )
    ).all()
    names = {
        str(c.id): c.name
        for c in session.exec(
            select(AssessmentCriterion)
            .where(AssessmentCriterion.cycle_id == cycle.id)
            .order_by(col(AssessmentCriterion.position))
        ).all()
    }
    candidates: list[rules.Candidate] = []
    details: dict[int, tuple[str, str, list[tuple[str, int | None]]]] = {}
    for entry, unit, organisation, consensus in rows:
        reached = consensus is not None and consensus.status == "submitted"
        criteria = consensus.criteria if consensus is not None else {}
        candidates.append(
            rules.Candidate(
                entry.id or 0, unit.name, reached, unit.budget_in_balance,
                rules.consensus_score(criteria) if reached else None,
            )
        )  # fmt: skip
        scores = [(name, (criteria.get(cid) or {}).get("score")) for cid, name in names.items()]
        details[entry.id or 0] = (organisation.name, consensus.summary if consensus else "", scores)
    items = [
        PackItem(
            rank, c.entry_id, c.unit, details[c.entry_id][0], c.score, details[c.entry_id][1],
            details[c.entry_id][2], c.budget_in_balance,
        )
        for rank, c in enumerate(rules.ranked(candidates), start=1)
    ]  # fmt: skip
    return candidates, items


def _decision(session: Session, cycle: Cycle, award_class: str) -> JuryDecision | None:
    return session.exec(
        select(JuryDecision).where(
            JuryDecision.cycle_id == cycle.id, JuryDecision.award_class == award_class
        )
    ).first()


def announcement_of(session: Session, cycle: Cycle) -> JuryAnnouncement | None:
    return session.get(JuryAnnouncement, cycle.id)


def _announced(session: Session, cycle: Cycle) -> bool:
    row = announcement_of(session, cycle)
    return row is not None and row.announced_at is not None


def _not_announced(session: Session, cycle: Cycle) -> None:
    if _announced(session, cycle):
        raise Conflict((rules.ALREADY_ANNOUNCED,))


def class_view(session: Session, *, year: int, award_class: str, acting: Actor | None) -> ClassView:
    """The class as the jury reads it: ranked entries, recommendations, the decision."""
    cycle = cycle_of_year(session, year)
    require_jury(session, acting, cycle)
    code = class_in_cycle(award_class, cycle)
    candidates, items = _candidates(session, cycle, code)
    recommendations = session.exec(
        select(User.name, JuryRecommendation)
        .join(User, col(User.id) == JuryRecommendation.user_id)
        .where(JuryRecommendation.cycle_id == cycle.id, JuryRecommendation.award_class == code)
        .order_by(col(User.name))
    ).all()
    return ClassView(
        year, code, AWARD_CLASSES[code], candidates, items, _decision(session, cycle, code),
        [(name, row) for name, row in recommendations], _announced(session, cycle),
    )  # fmt: skip


# --- recommendations and the decision ---------------------------------------------------------


def _checked_choice(
    session: Session,
    cycle: Cycle,
    award_class: str,
    winners: Sequence[int],
    motivation: str,
    *,
    decision: bool,
) -> str:
    """The class's code once a choice of `winners` in it may be kept (a decision needs a
    motivation); else every reason, and nothing is changed."""
    _not_announced(session, cycle)
    code = class_in_cycle(award_class, cycle)
    candidates, _ = _candidates(session, cycle, code)
    reasons = rules.choice_reasons(
        candidates, list(winners), motivation, class_name=AWARD_CLASSES[code],
        budget_rule=cycle.budget_rule, require_motivation=decision,
    )  # fmt: skip
    if reasons:
        raise InvalidInput(reasons)
    return code


def recommend(
    session: Session,
    *,
    year: int,
    award_class: str,
    winners: Sequence[int],
    motivation: str,
    acting: Actor | None,
    now: datetime,
) -> JuryRecommendation:
    """Keep a member's recommendation in the class (replacing their earlier one)."""
    cycle = cycle_of_year(session, year)
    if acting is None or acting.role != Role.JURY:
        raise Forbidden((Reason("forbidden", "Bara jurymedlemmar lämnar rekommendationer."),))
    require_jury(session, acting, cycle)
    code = _checked_choice(session, cycle, award_class, winners, motivation, decision=False)
    row = session.exec(
        select(JuryRecommendation).where(
            JuryRecommendation.cycle_id == cycle.id,
            JuryRecommendation.award_class == code,
            JuryRecommendation.user_id == acting.user_id,
        )
    ).first() or JuryRecommendation(
        cycle_id=cycle.id or 0, award_class=code, user_id=acting.user_id, winners=[],
        updated_at=now,
    )  # fmt: skip
    row.winners, row.motivation, row.updated_at = list(winners), motivation.strip(), now
    session.add(row)
    session.flush()
    record_audit(
        session, subject="cycle", subject_id=cycle.id or 0, actor=acting.name, at=now,
        action="jury_recommendation_saved",
        changes={"award_class": [None, code], "winners": [None, list(winners)]},
    )  # fmt: skip
    return row


def decide(
    session: Session,
    *,
    year: int,
    award_class: str,
    winners: Sequence[int],
    motivation: str,
    acting: Actor | None,
    now: datetime,
) -> JuryDecision:
    """Record the chair's decision in the class (winners, or none: no winner this year). It
    stays embargoed until the announcement; it can be changed until then."""
    cycle = cycle_of_year(session, year)
    if acting is not None:
        member = require_jury(session, acting, cycle)
        if member is None or not member.chair:
            raise Forbidden((rules.NOT_CHAIR,))
    code = _checked_choice(session, cycle, award_class, winners, motivation, decision=True)
    actor = acting.name if acting is not None else OPERATOR
    row = _decision(session, cycle, code)
    before = (list(row.winners), row.motivation) if row is not None else None
    row = row or JuryDecision(
        cycle_id=cycle.id or 0, award_class=code, winners=[], motivation="", decided_by=actor,
        decided_at=now,
    )  # fmt: skip
    row.winners, row.motivation = list(dict.fromkeys(winners)), motivation.strip()
    row.decided_by, row.decided_at = actor, now
    session.add(row)
    session.flush()
    record_audit(
        session, subject="cycle", subject_id=cycle.id or 0, actor=actor, at=now,
        action="jury_decision_recorded",
        changes={"award_class": [None, code], "decision": [before, [row.winners, row.motivation]]},
    )  # fmt: skip
    return row


# --- the announcement ------------------------------------------------------------------------


def announce_at(session: Session, cycle: Cycle) -> datetime:
    """When the cycle's decisions become public: the admin's time, else the winners' day."""
    row = announcement_of(session, cycle)
    if row is not None and row.announce_at is not None:
        return row.announce_at
    return rules.default_announcement(cycle.winners_date, cycle.ceremony_starts_at)


@dataclass(frozen=True)
class Announcement:
    year: int
    announce_at: datetime
    announced_at: datetime | None
    moved: list[int]


def set_announcement(
    session: Session, *, year: int, at: datetime | None, acting: Actor | None, now: datetime
) -> Announcement:
    """The admin's announcement: now (`at` None or past), or at a later moment."""
    actor = require_admin(acting, "Bara utmärkelsens kansli tillkännager jurybesluten.")
    cycle = cycle_of_year(session, year)
    _not_announced(session, cycle)
    if at is not None and at > now:
        row = announcement_of(session, cycle) or JuryAnnouncement(
            cycle_id=cycle.id or 0, set_by=actor
        )
        before = row.announce_at
        row.announce_at, row.set_by = at, actor
        session.add(row)
        session.flush()
        record_audit(
            session, subject="cycle", subject_id=cycle.id or 0, actor=actor, at=now,
            action="jury_announcement_scheduled",
            changes={"announce_at": [before.isoformat() if before else None, at.isoformat()]},
        )  # fmt: skip
        return Announcement(year, at, None, [])
    return announce(session, cycle=cycle, actor=actor, now=now)


def announce(session: Session, *, cycle: Cycle, actor: str, now: datetime) -> Announcement:
    """Make the decisions public: each entry that reached consensus in a decided class moves to
    `jury` (winner or not_awarded), which queues its outcome e-mail. Refused, changing
    nothing, if already announced, a class is undecided or an entry's feedback is unreleased."""
    undecided: list[str] = []
    not_ready: list[str] = []
    moves: list[tuple[Entry, dict[str, str]]] = []
    for code in cycle.classes:
        candidates, _ = _candidates(session, cycle, code)
        reached = [c for c in candidates if c.reached_consensus]
        if not reached:
            continue
        decision = _decision(session, cycle, code)
        if decision is None:
            undecided.append(AWARD_CLASSES.get(code, code))
            continue
        for candidate in reached:
            entry = session.get(Entry, candidate.entry_id)
            assert entry is not None
            if entry.stage == Stage.JURY.value:
                continue
            if entry.stage != Stage.FEEDBACK.value:
                not_ready.append(candidate.unit)
                continue
            if candidate.entry_id in decision.winners:
                # The motivation is the winners': their letter, diploma and page quote it.
                moves.append((entry, {"outcome": "winner", "motivation": decision.motivation}))
            else:
                moves.append((entry, {"outcome": "not_awarded"}))
    reasons = rules.announcement_reasons(undecided, sorted(not_ready), _announced(session, cycle))
    if reasons:
        raise Conflict(reasons)
    for entry, outcome in moves:
        advance_entry(
            session, entry_id=entry.id or 0, target=Stage.JURY, version=entry.version,
            actor=actor, now=now, note="Jurybeslutet tillkännagivet.",
            data=outcome, announcement=True,
        )  # fmt: skip
    row = announcement_of(session, cycle) or JuryAnnouncement(cycle_id=cycle.id or 0, set_by=actor)
    row.announced_at = now
    if row.announce_at is None:
        row.announce_at = now
    session.add(row)
    session.flush()
    moved = [entry.id or 0 for entry, _ in moves]
    record_audit(
        session, subject="cycle", subject_id=cycle.id or 0, actor=actor, at=now,
        action="jury_announced", changes={"entries": [None, moved]},
    )  # fmt: skip
    return Announcement(cycle.year, row.announce_at, now, moved)


def announce_due(session: Session, *, now: datetime) -> list[int]:
    """The sweep: announce every cycle whose moment has come and that has a decision; a cycle
    not ready yet (a class undecided, feedback unreleased) is tried again next time."""
    announced: list[int] = []
    decided = select(JuryDecision.cycle_id).distinct()
    for cycle in session.exec(select(Cycle).where(col(Cycle.id).in_(decided))).all():
        if _announced(session, cycle) or announce_at(session, cycle) > now:
            continue
        try:
            with session.begin_nested():
                announce(session, cycle=cycle, actor="tillkännagivande enligt tidplan", now=now)
        except WorkflowError as refused:
            log.warning(
                "jury announcement of %s not ready: %s",
                cycle.year, "; ".join(r.message for r in refused.reasons),
            )  # fmt: skip
            continue
        announced.append(cycle.year)
    return announced


def announcement_view(session: Session, *, year: int, acting: Actor | None) -> Announcement:
    cycle = cycle_of_year(session, year)
    require_jury(session, acting, cycle)
    row = announcement_of(session, cycle)
    return Announcement(
        year, announce_at(session, cycle), row.announced_at if row is not None else None, []
    )
