"""Examination as the award runs it, on both databases: criteria per cycle, a team of
examiners free of jäv, individual assessments hidden from each other until submitted, and the
lead's consensus that examines the entry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import seed_entry
from workflow import services
from workflow.auth import actor_of
from workflow.db import transaction
from workflow.domain.access import Actor
from workflow.domain.errors import WorkflowError
from workflow.models import Assessment, AuditEvent, Entry, Organisation, User
from workflow.services import assessments, consensus, examination

NOW = datetime(2024, 9, 2, 9, 0, tzinfo=UTC)


def _examiner(engine: Engine, name: str, organisation: str = "Kulturförvaltningen") -> Actor:
    with transaction(engine) as session:
        org = session.exec(select(Organisation).where(Organisation.name == organisation)).first()
        if org is None:
            org = services.create_organisation(
                session, name=organisation, kind="forvaltning", board="Nämnden"
            )
        made = services.create_user(
            session, name=name, role="examiner", organisation_id=org.id, now=NOW
        )
        return actor_of(made.user)


def _submitted_entry(engine: Engine) -> int:
    entry = seed_entry(engine, privately_run=True)
    with transaction(engine) as session:
        examination.seed_default_criteria(session, year=2024, now=NOW)
        services.advance_entry(
            session, entry_id=entry.id or 0, target="submitted", version=entry.version,
            actor="test", now=NOW,
        )  # fmt: skip
    return entry.id or 0


def _refused(engine: Engine, call: Any) -> list[str]:
    with transaction(engine) as session, pytest.raises(WorkflowError) as refused:
        call(session)
    return [reason.code for reason in refused.value.reasons]


def _body(engine: Engine, entry_id: int, score: int = 4) -> dict[str, Any]:
    with transaction(engine) as session:
        exam = assessments.load(session, None, entry_id)
    return {
        "criteria": {
            str(c.id): {"score": score, "strengths": "Tydligt", "development_areas": "Mät mer"}
            for c in exam.criteria
        },
        "site_visit_on": "2024-09-01",
        "interviews": {"manager": 1, "staff": 4, "others": 0},
    }


def _team(engine: Engine, entry_id: int) -> tuple[Actor, Actor]:
    lead, other = _examiner(engine, "lena"), _examiner(engine, "olle")
    with transaction(engine) as session:
        examination.set_team(
            session, entry_id=entry_id, members=[lead.user_id, other.user_id],
            lead=lead.user_id, acting=None, now=NOW,
        )  # fmt: skip
    return lead, other


def test_a_team_needs_enough_examiners_a_lead_and_no_one_from_the_units_organisation(
    engine: Engine,
) -> None:
    entry_id = _submitted_entry(engine)
    own = _examiner(engine, "sara", "Socialförvaltningen")  # the unit's own administration
    free = _examiner(engine, "lena")

    def team(members: list[int], lead: int | None) -> Any:
        return lambda session: examination.set_team(
            session, entry_id=entry_id, members=members, lead=lead, acting=None, now=NOW
        )

    assert _refused(engine, team([free.user_id], free.user_id)) == ["too_few_examiners"]
    assert "conflict_of_interest" in _refused(engine, team([free.user_id, own.user_id], None))
    assert "missing_lead" in _refused(engine, team([free.user_id, own.user_id], None))
    with transaction(engine) as session:
        assert examination.team_of(session, entry_id) == []


def test_class_assignment_fills_every_team_from_the_pool_without_jav(engine: Engine) -> None:
    entry_id = _submitted_entry(engine)
    other = seed_entry(engine, name="Hemtjänsten Norr", organisation="Äldreförvaltningen")
    pool = [
        _examiner(engine, "lena").user_id,
        _examiner(engine, "olle", "Äldreförvaltningen").user_id,
        _examiner(engine, "sara", "Socialförvaltningen").user_id,
    ]
    with transaction(engine) as session:
        teams = examination.assign_class(
            session, year=2024, award_class="socialtjanst", pool=pool, acting=None, now=NOW
        )
    names = {entry: sorted(m.name for m in team) for entry, team in teams.items()}
    assert names == {entry_id: ["lena", "olle"], other.id: ["lena", "sara"]}
    assert all(sum(m.lead for m in team) == 1 for team in teams.values())


def test_criteria_change_until_the_first_assessment_is_saved(engine: Engine) -> None:
    entry_id = _submitted_entry(engine)
    lead, _ = _team(engine, entry_id)
    change = examination.CriteriaChange([("Ledarskap", ""), ("Resultat", "")], 1, 4)
    with transaction(engine) as session:
        examination.set_criteria(session, year=2024, change=change, acting=None, now=NOW)
    bad = examination.CriteriaChange([("", ""), ("A", "")], 5, 1)
    codes = _refused(
        engine, lambda s: examination.set_criteria(s, year=2024, change=bad, acting=None, now=NOW)
    )
    assert codes == ["missing_name", "invalid_scale"]
    with transaction(engine) as session:
        assessments.save_assessment(session, entry_id=entry_id, body={}, acting=lead, now=NOW)
    codes = _refused(
        engine,
        lambda s: examination.set_criteria(s, year=2024, change=change, acting=None, now=NOW),
    )
    assert codes == ["criteria_locked"]


def test_two_examiners_assess_and_the_lead_reaches_consensus(engine: Engine) -> None:
    entry_id = _submitted_entry(engine)
    lead, other = _team(engine, entry_id)
    body = _body(engine, entry_id)

    def save(actor: Actor, data: dict[str, Any], submit: bool = False) -> Any:
        return lambda s: assessments.save_assessment(
            s, entry_id=entry_id, body=data, acting=actor, now=NOW, submit=submit
        )

    key = next(iter(body["criteria"]))
    too_high = {**body, "criteria": {key: {"score": 9}}}
    assert _refused(engine, save(lead, too_high)) == ["score_out_of_scale"]
    with transaction(engine) as session:
        save(lead, body, submit=True)(session)
        save(other, {**body, "criteria": {key: {"score": 2}}})(session)  # a draft
    with transaction(engine) as session:
        exam = assessments.load(session, other, entry_id)
        seen = [name for name, _ in assessments.visible_assessments(session, exam, other)]
        assert seen == ["olle"]  # the lead's submitted one stays hidden from a drafter
        exam = assessments.load(session, lead, entry_id)
        seen = [name for name, _ in assessments.visible_assessments(session, exam, lead)]
        assert seen == ["lena"]  # and a draft is nobody else's business
    write = {"criteria": body["criteria"], "summary": "Ett föredöme."}
    early = lambda s: consensus.save_consensus(  # noqa: E731
        s, entry_id=entry_id, body=write, acting=lead, now=NOW, submit=True
    )
    assert _refused(engine, early) == ["assessments_missing"]
    assert _refused(engine, save(lead, body)) == ["assessment_submitted"]
    with transaction(engine) as session:
        save(other, {**body, "criteria": {**body["criteria"], key: {"score": 2}}}, True)(session)
    not_lead = lambda s: consensus.save_consensus(  # noqa: E731
        s, entry_id=entry_id, body=write, acting=other, now=NOW
    )
    assert _refused(engine, not_lead) == ["not_lead"]
    with transaction(engine) as session:
        exam = assessments.load(session, lead, entry_id)
        assert consensus.spreads(exam)[key].scores in ((4, 2), (2, 4))
        early(session)
    with transaction(engine) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None and entry.stage == "examined"
        assert entry.facts["examined"] == {"examiner": "lena, olle", "site_visit_on": "2024-09-01"}


def test_the_admin_reopens_a_submitted_assessment_with_a_reason_audited(engine: Engine) -> None:
    entry_id = _submitted_entry(engine)
    lead, _ = _team(engine, entry_id)
    with transaction(engine) as session:
        assessments.save_assessment(
            session, entry_id=entry_id, body=_body(engine, entry_id), acting=lead, now=NOW,
            submit=True,
        )  # fmt: skip

    def reopen(note: str) -> Any:
        return lambda s: assessments.reopen_assessment(
            s, entry_id=entry_id, examiner_id=lead.user_id, note=note, acting=None, now=NOW
        )

    assert _refused(engine, reopen(" ")) == ["missing_note"]
    with transaction(engine) as session:
        reopen("Poängen för resultat behöver ses över.")(session)
    with transaction(engine) as session:
        row = session.exec(select(Assessment)).one()
        assert row.status == "draft"
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "assessment_reopened")
        ).one()
        assert event.note == "Poängen för resultat behöver ses över."


def test_another_examiner_cannot_open_the_entry(engine: Engine) -> None:
    entry_id = _submitted_entry(engine)
    _team(engine, entry_id)
    stranger = _examiner(engine, "nils")
    codes = _refused(engine, lambda s: assessments.load(s, stranger, entry_id))
    assert codes == ["not_found"]
    with transaction(engine) as session:
        assert session.exec(select(User).where(User.name == "nils")).one()


def test_the_upgrade_makes_earlier_free_text_examinations_consensus_summaries(
    database_url: str,
) -> None:
    """Entries examined before 0009e kept an examiner's name, a site visit and the feedback
    as free text; after the upgrade each has a submitted consensus whose summary holds them."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import update

    from workflow import db
    from workflow.db import make_engine
    from workflow.models import Consensus

    engine = make_engine(database_url)
    try:
        db.upgrade_schema(engine)
        entry = seed_entry(engine)
        facts = {
            "examined": {"site_visit_on": "2021-09-14", "examiner": "Eva Ek"},
            "feedback": {"strengths": "Delaktighet", "development_areas": "Mätning"},
        }
        with transaction(engine) as session:
            session.execute(update(Entry).where(Entry.id == entry.id).values(facts=facts))  # type: ignore[arg-type]
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")
        db.upgrade_schema(engine)
        with transaction(engine) as session:
            row = session.exec(select(Consensus)).one()
        assert row.entry_id == entry.id and row.status == "submitted"
        assert row.summary == (
            "Examinator: Eva Ek\n\nPlatsbesök: 2021-09-14\n\nStyrkor: Delaktighet"
            "\n\nUtvecklingsområden: Mätning"
        )
    finally:
        engine.dispose()


def test_a_class_that_cannot_be_filled_gets_no_team_at_all(engine: Engine) -> None:
    """Two entries, one examiner free of jäv for each: neither team can reach two, so the
    refusal names them and nobody is assigned anywhere."""
    first = _submitted_entry(engine)
    seed_entry(engine, name="Hemtjänsten Norr", organisation="Äldreförvaltningen")
    pool = [_examiner(engine, "lena").user_id]
    codes = _refused(
        engine,
        lambda s: examination.assign_class(
            s, year=2024, award_class="socialtjanst", pool=pool, acting=None, now=NOW
        ),
    )
    assert codes == ["too_few_examiners"]
    with transaction(engine) as session:
        assert examination.team_of(session, first) == []
