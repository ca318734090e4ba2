"""The jury committee on both databases: a committee with one chair, the chair's decision per
class refused with Swedish reasons (no entry, budget not in balance, no consensus, a member
who is not the chair), embargoed until the announcement, which moves the entries to `jury`
and queues the outcome e-mails once."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from tests.conftest import seed_cycle, seed_entry
from workflow import services
from workflow.auth import actor_of
from workflow.db import transaction
from workflow.domain.access import Actor
from workflow.domain.errors import WorkflowError
from workflow.models import Consensus, Entry, HistoryEvent, JuryDecision, JuryMember, OutboxMessage
from workflow.services import examination, jury

NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)


def entry_with_consensus(
    engine: Engine, name: str, score: int, *, budget: bool = True, stage: str = "feedback"
) -> int:
    """A privately run entry of socialtjänst whose team has written its consensus (every
    criterion scored `score`), moved on to `stage` (examined or feedback)."""
    entry = seed_entry(engine, name=name, privately_run=True, budget_in_balance=budget)
    with transaction(engine) as session:
        examination.seed_default_criteria(session, year=2024, now=NOW)
        criteria = examination.criteria_of(session, entry.cycle_id)
        moves: list[tuple[str, dict[str, str]]] = [
            ("submitted", {}),
            ("examined", {"site_visit_on": "2024-09-10", "examiner": "Lena, Olle"}),
            ("feedback", {"strengths": "Tydligt ledarskap", "development_areas": "Mät mer"}),
        ]
        version = entry.version
        for target, data in moves[: 2 if stage == "examined" else 3]:
            moved = services.advance_entry(
                session, entry_id=entry.id or 0, target=target, version=version, actor="test",
                now=NOW, data=data,
            )  # fmt: skip
            version = moved.version
        session.add(
            Consensus(
                entry_id=entry.id or 0, status="submitted", written_by="lena", updated_at=NOW,
                submitted_at=NOW, summary=f"{name}: ett genomarbetat kvalitetsarbete.",
                criteria={str(c.id): {"score": score, "strengths": "", "development_areas": ""}
                          for c in criteria},
            )
        )  # fmt: skip
    return entry.id or 0


def jury_user(engine: Engine, name: str, role: str = "jury") -> Actor:
    with transaction(engine) as session:
        return actor_of(services.create_user(session, name=name, role=role, now=NOW).user)


def committee(engine: Engine) -> tuple[Actor, Actor]:
    """Anna chairs the 2024 jury (stadsdirektören), Bertil sits on it."""
    chair, member = jury_user(engine, "anna"), jury_user(engine, "bertil")
    with transaction(engine) as session:
        jury.set_members(
            session, year=2024, members=[chair.user_id, member.user_id], chair=chair.user_id,
            acting=None, now=NOW,
        )  # fmt: skip
    return chair, member


def refused(engine: Engine, call: Callable[[Session], Any]) -> list[str]:
    with transaction(engine) as session, pytest.raises(WorkflowError) as error:
        call(session)
    return [reason.code for reason in error.value.reasons]


def outcome_mails(engine: Engine) -> list[int]:
    with transaction(engine) as session:
        rows = session.exec(
            select(OutboxMessage.entry_id).where(OutboxMessage.kind == "jury_outcome")
        ).all()
        return sorted(row or 0 for row in rows)


def decide(acting: Actor | None, winners: list[int], motivation: str = "Föredömligt") -> Any:
    return lambda session: jury.decide(
        session, year=2024, award_class="socialtjanst", winners=winners, motivation=motivation,
        acting=acting, now=NOW,
    )  # fmt: skip


def test_a_committee_has_one_chair_among_jury_members(engine: Engine) -> None:
    seed_cycle(engine)
    chair, member = committee(engine)
    coordinator = jury_user(engine, "cecilia", "admin")

    def set_to(members: list[int], chair_ids: Any, acting: Actor | None = None) -> Any:
        return lambda session: jury.set_members(
            session, year=2024, members=members, chair=chair_ids, acting=acting, now=NOW
        )

    both = [chair.user_id, member.user_id]
    assert refused(engine, set_to(both, both)) == ["second_chair"]
    assert refused(engine, set_to(both, None)) == ["missing_chair"]
    assert "not_jury_role" in refused(engine, set_to([*both, coordinator.user_id], chair.user_id))
    assert refused(engine, set_to(both, chair.user_id, acting=member)) == ["forbidden"]
    with transaction(engine) as session:
        rows = session.exec(select(JuryMember).order_by(col(JuryMember.user_id))).all()
        assert [(r.user_id, r.chair) for r in rows] == [
            (chair.user_id, True), (member.user_id, False)
        ]  # fmt: skip


def test_bad_decisions_are_refused_with_reasons_and_change_nothing(engine: Engine) -> None:
    best = entry_with_consensus(engine, "Ungdomsjouren", 5)
    poor = entry_with_consensus(engine, "Fältgruppen", 4, budget=False)
    waiting = seed_entry(engine, name="Stödboendet", privately_run=True).id or 0
    chair, member = committee(engine)
    outsider = jury_user(engine, "david")  # a jury user, but not on the 2024 committee

    assert refused(engine, decide(chair, [poor])) == ["winner_budget_in_balance"]
    assert refused(engine, decide(chair, [waiting])) == ["winner_without_consensus"]
    assert refused(engine, decide(chair, [best], motivation=" ")) == ["missing_motivation"]
    assert refused(engine, decide(member, [best])) == ["not_chair"]
    assert refused(engine, decide(outsider, [best])) == ["not_jury_member"]
    no_entries = refused(
        engine,
        lambda session: jury.decide(
            session, year=2024, award_class="skola", winners=[], motivation="Inga bidrag",
            acting=chair, now=NOW,
        ),
    )  # fmt: skip
    assert no_entries == ["class_without_entries"]
    with transaction(engine) as session:
        assert session.exec(select(func.count()).select_from(JuryDecision)).one() == 0


def test_the_decision_is_embargoed_until_the_announcement_which_queues_once(
    engine: Engine,
) -> None:
    best = entry_with_consensus(engine, "Ungdomsjouren", 5)
    other = entry_with_consensus(engine, "Fältgruppen", 3)
    chair, member = committee(engine)
    with transaction(engine) as session:
        jury.recommend(
            session, year=2024, award_class="socialtjanst", winners=[best],
            motivation="Starkast i klassen", acting=member, now=NOW,
        )  # fmt: skip
    with transaction(engine) as session:
        decide(chair, [best], "Ett föredöme för hela staden")(session)

    with transaction(engine) as session:
        stages = {e.id: e.stage for e in session.exec(select(Entry)).all()}
        jury_events = session.exec(select(HistoryEvent).where(HistoryEvent.to_stage == "jury"))
        assert stages == {best: "feedback", other: "feedback"}
        assert jury_events.all() == []
    assert outcome_mails(engine) == []

    # The admin sets a moment; the sweep announces nothing before it and everything after.
    later = NOW + timedelta(days=1)
    with transaction(engine) as session:
        planned = jury.set_announcement(session, year=2024, at=later, acting=None, now=NOW)
    assert planned.announced_at is None
    with transaction(engine) as session:
        assert jury.announce_due(session, now=NOW + timedelta(hours=1)) == []
    assert outcome_mails(engine) == []
    with transaction(engine) as session:
        assert jury.announce_due(session, now=later) == [2024]
    assert outcome_mails(engine) == sorted([best, other])

    with transaction(engine) as session:
        facts = {e.id: e.facts["jury"]["outcome"] for e in session.exec(select(Entry)).all()}
    assert facts == {best: "winner", other: "not_awarded"}
    # The winner's letter brings its diploma and prize letter; the others' bring none.
    with transaction(engine) as session:
        carried = {
            m.entry_id: sorted(
                f["filename"].rsplit(".", 1)[-1] for f in m.payload.get("made_files", [])
            )
            for m in session.exec(select(OutboxMessage).where(OutboxMessage.kind == "jury_outcome"))
        }
    assert carried == {best: ["docx", "pdf", "pdf"], other: []}
    # Announcing again (by hand or the sweep) queues nothing twice; the decision is final.
    assert refused(
        engine, lambda s: jury.set_announcement(s, year=2024, at=None, acting=None, now=later)
    ) == ["already_announced"]  # fmt: skip
    with transaction(engine) as session:
        assert jury.announce_due(session, now=later + timedelta(days=1)) == []
    assert refused(engine, decide(chair, [other])) == ["already_announced"]
    assert outcome_mails(engine) == sorted([best, other])


def test_announcement_waits_for_every_class_and_released_feedback(engine: Engine) -> None:
    examined = entry_with_consensus(engine, "Ungdomsjouren", 5, stage="examined")
    chair, _ = committee(engine)
    announce = lambda s: jury.set_announcement(s, year=2024, at=None, acting=None, now=NOW)  # noqa: E731
    assert refused(engine, announce) == ["class_undecided"]
    with transaction(engine) as session:
        decide(chair, [examined])(session)
    assert refused(engine, announce) == ["feedback_not_released"]
    assert outcome_mails(engine) == []


def test_a_direct_move_to_jury_is_refused(engine: Engine) -> None:
    """One click used to send "Grattis" at once; only the announcement moves to `jury`."""
    entry_id = entry_with_consensus(engine, "Ungdomsjouren", 5)
    with transaction(engine) as session:
        version = session.get(Entry, entry_id).version  # type: ignore[union-attr]
    codes = refused(
        engine,
        lambda s: services.advance_entry(
            s, entry_id=entry_id, target="jury", version=version, actor="test", now=NOW,
            data={"outcome": "winner"},
        ),
    )  # fmt: skip
    assert codes == ["jury_by_decision"]
    assert outcome_mails(engine) == []


def test_the_jury_pack_ranks_the_class_by_consensus_score(engine: Engine) -> None:
    entry_with_consensus(engine, "Fältgruppen", 3)
    entry_with_consensus(engine, "Ungdomsjouren", 5)
    seed_entry(engine, name="Stödboendet", privately_run=True)  # no consensus: not in the pack
    _, member = committee(engine)
    with transaction(engine) as session:
        view = jury.class_view(session, year=2024, award_class="socialtjanst", acting=member)
        data = jury_pack_pdf(view)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "Juryunderlag" in text and "Socialtjänst 2024" in text
    assert text.index("1. Ungdomsjouren") < text.index("2. Fältgruppen")
    assert "Stödboendet" not in text
    assert "Ungdomsjouren: ett genomarbetat kvalitetsarbete." in text


def jury_pack_pdf(view: jury.ClassView) -> bytes:
    from workflow.entrypoints.http.jury import pack_pdf

    return pack_pdf(view, NOW.date())
