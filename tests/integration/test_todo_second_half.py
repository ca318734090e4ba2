""" "Att göra" in the second half of the year, on SQLite and PostgreSQL: the admin is told of
contributions without a full examiner team, feedback waiting for its release, a jury to seat
and decisions ready to announce; the jury's members are told to recommend and the chair to
decide, each only in its own cycle and only until done; an examiner has nothing left once the
team's consensus is in (the feedback is the admin's to release)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import NOW, seed_entry
from tests.integration.test_jury import committee, entry_with_consensus, jury_user
from workflow import services
from workflow.auth import actor_of
from workflow.db import transaction
from workflow.domain.access import Actor, Role
from workflow.models import Cycle, Entry, ExaminerAssignment
from workflow.queries.todo import todo_for
from workflow.services import jury

ADMIN = Actor(1, "kansliet", Role.ADMIN)


def tasks(engine: Engine, actor: Actor) -> list[tuple[str, str, str | None, str]]:
    with transaction(engine) as session:
        cycle = session.exec(select(Cycle).where(Cycle.year == 2024)).one()
        todo = todo_for(session, actor, cycle, today=NOW.date())
    return [(t.task, t.subject, t.detail, t.url) for t in todo.items]


def test_the_second_half_tells_each_role_its_next_act(engine: Engine) -> None:
    examined = entry_with_consensus(engine, "Ungdomsjouren", 5, stage="examined")
    waiting = seed_entry(engine, name="Fältgruppen", privately_run=True)
    with transaction(engine) as session:
        services.record_contribution(
            session, entry_id=waiting.id or 0, version=waiting.version, actor="t", now=NOW
        )
    admin = tasks(engine, ADMIN)
    assert ("Examinatorer ska utses", "Socialtjänst", "1 bidrag utan fullt examinatorsteam",
            "/admin/cycles/2024/classes/socialtjanst/examiners") in admin  # fmt: skip
    assert ("Återkopplingen väntar på att släppas", "1 post", "konsensus klar",
            "/admin/cycles/2024/feedback") in admin  # fmt: skip
    assert ("Juryn ska tillsättas", "Omgång 2024", "med ordförande", "/cycles/2024/jury") in admin

    # An examiner of the examined entry has nothing left to do there.
    with transaction(engine) as session:
        culture = services.create_organisation(
            session, name="Kulturförvaltningen", kind="forvaltning", board="Kulturnämnden"
        )
        made = services.create_user(
            session, name="lena", role="examiner", organisation_id=culture.id, now=NOW
        )
        examiner = actor_of(made.user)
        session.add(ExaminerAssignment(entry_id=examined, user_id=examiner.user_id,
                                       assigned_by="t", created_at=NOW))  # fmt: skip
    assert tasks(engine, examiner) == []

    # The feedback is released and the jury seated: the members have their acts.
    with transaction(engine) as session:
        entry = session.get_one(Entry, examined)
        services.advance_entry(
            session, entry_id=examined, target="feedback", version=entry.version, actor="t",
            now=NOW, data={"strengths": "Tydligt", "development_areas": "Mät mer"},
        )  # fmt: skip
    outsider = jury_user(engine, "olof")  # a jury user not on 2024's jury
    chair, member = committee(engine)
    in_class = ("Socialtjänst", "1 post i juryns underlag", "/cycles/2024/jury/socialtjanst")
    assert tasks(engine, chair) == [("Klassen ska avgöras", *in_class)]
    assert tasks(engine, member) == [("Lämna er rekommendation", *in_class)]
    assert tasks(engine, outsider) == []
    admin = [task for task, *_ in tasks(engine, ADMIN)]
    assert "Juryn ska tillsättas" not in admin and "Jurybeslutet ska tillkännages" not in admin
    assert "Återkopplingen väntar på att släppas" not in admin

    with transaction(engine) as session:
        jury.recommend(session, year=2024, award_class="socialtjanst", winners=[examined],
                       motivation="Starkast", acting=member, now=NOW)  # fmt: skip
    assert tasks(engine, member) == []
    with transaction(engine) as session:
        jury.decide(session, year=2024, award_class="socialtjanst", winners=[examined],
                    motivation="Ett föredöme", acting=chair, now=NOW)  # fmt: skip
    assert tasks(engine, chair) == []
    assert ("Jurybeslutet ska tillkännages", "Omgång 2024", "alla klasser avgjorda",
            "/cycles/2024/jury") in tasks(engine, ADMIN)  # fmt: skip
    with transaction(engine) as session:
        jury.set_announcement(session, year=2024, at=None, acting=None, now=NOW)
    assert "Jurybeslutet ska tillkännages" not in [t for t, *_ in tasks(engine, ADMIN)]
