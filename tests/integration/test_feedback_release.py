"""The feedback report and its release, on both databases: a release is refused while any
entry lacks consensus (named), the report stays with the admin and the examiners until the
release, and the release queues one letter per entry, with the report, once."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import docx
import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import seed_entry
from workflow import services
from workflow.auth import actor_of
from workflow.db import transaction
from workflow.domain.access import Actor, Role
from workflow.domain.errors import WorkflowError
from workflow.models import (
    AuditEvent,
    Consensus,
    Entry,
    ExaminerAssignment,
    FeedbackRelease,
    OutboxMessage,
    Unit,
)
from workflow.outbox.rows import made_files_of
from workflow.services import examination, feedback_release

NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
ADMIN = Actor(user_id=1, name="Kansliet", role=Role.ADMIN)


def _user(engine: Engine, name: str, role: str, **scope: int | None) -> Actor:
    with transaction(engine) as session:
        made = services.create_user(session, name=name, role=role, now=NOW, **scope)
        return actor_of(made.user)


def examined_entry(
    engine: Engine, unit: str, examiners: tuple[Actor, ...], *, consensus: bool = True
) -> int:
    """An entry of 2024 whose team (the first examiner leads) has written its consensus; with
    `consensus=False` it still waits for it (its contribution is in)."""
    entry = seed_entry(engine, name=unit, privately_run=True)
    with transaction(engine) as session:
        examination.seed_default_criteria(session, year=2024, now=NOW)
        services.advance_entry(
            session, entry_id=entry.id or 0, target="submitted", version=entry.version,
            actor="test", now=NOW,
        )  # fmt: skip
        for index, member in enumerate(examiners):
            session.add(
                ExaminerAssignment(
                    entry_id=entry.id or 0, user_id=member.user_id, assigned_by="test",
                    created_at=NOW, lead=index == 0,
                )
            )  # fmt: skip
    if not consensus:
        return entry.id or 0
    with transaction(engine) as session:
        criteria = examination.criteria_of(session, entry.cycle_id)
        written = {
            str(c.id): {
                "score": 4,
                "strengths": f"- Tydligt ledarskap inom {c.name.lower()}\n- Engagerad personal",
                "development_areas": "- Följ upp resultaten oftare",
            }
            for c in criteria
        }
        session.add(
            Consensus(
                entry_id=entry.id or 0, status="submitted", criteria=written,
                summary="Ett föredömligt systematiskt kvalitetsarbete.\n\nFortsätt så.",
                written_by=examiners[0].name, updated_at=NOW, submitted_at=NOW,
            )
        )  # fmt: skip
        current = session.get(Entry, entry.id)
        assert current is not None
        services.advance_entry(
            session, entry_id=entry.id or 0, target="examined", version=current.version,
            actor="test", now=NOW,
            data={"site_visit_on": "2024-09-12", "examiner": ", ".join(e.name for e in examiners)},
        )  # fmt: skip
    return entry.id or 0


def _team(engine: Engine) -> tuple[Actor, Actor]:
    with transaction(engine) as session:
        org = services.create_organisation(
            session, name="Kulturförvaltningen", kind="forvaltning", board="Kulturnämnden"
        )
    return (
        _user(engine, "Małgorzata Wójcik", "examiner", organisation_id=org.id),
        _user(engine, "Aino Väisänen", "examiner", organisation_id=org.id),
    )


def _letters(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(
            session.exec(select(OutboxMessage).where(OutboxMessage.kind == "feedback_letter"))
        )


def test_a_release_with_entries_lacking_consensus_is_refused_naming_them(engine: Engine) -> None:
    team = _team(engine)
    examined_entry(engine, "Förskolan Solen", team)
    examined_entry(engine, "Ungdomsjouren", team, consensus=False)
    with pytest.raises(WorkflowError) as refused, transaction(engine) as session:
        feedback_release.release_feedback(session, year=2024, acting=ADMIN, now=NOW)
    (reason,) = refused.value.reasons
    assert reason.code == "missing_consensus"
    assert "Ungdomsjouren" in reason.message and "Solen" not in reason.message
    with transaction(engine) as session:
        stages = set(session.exec(select(Entry.stage)).all())
        assert stages == {"examined", "submitted"}
        assert session.exec(select(FeedbackRelease)).all() == []
    assert _letters(engine) == []


def test_before_release_only_admin_and_examiners_read_the_report(engine: Engine) -> None:
    team = _team(engine)
    entry_id = examined_entry(engine, "Förskolan Solen", team)
    with transaction(engine) as session:
        unit = session.exec(select(Unit).where(Unit.name == "Förskolan Solen")).one()
    coordinator = _user(engine, "Samordnaren", "coordinator", organisation_id=unit.organisation_id)
    contact = _user(engine, "Chefen", "unit_contact", unit_id=unit.id)

    def read(actor: Actor) -> str:
        with transaction(engine) as session:
            try:
                return feedback_release.report_for_reader(session, actor, entry_id, "pdf")[1]
            except WorkflowError as refused:
                return refused.reasons[0].code

    assert [read(a) for a in (ADMIN, team[0], coordinator, contact)] == [
        "application/pdf", "application/pdf", "not_found", "not_found",
    ]  # fmt: skip
    assert _letters(engine) == []
    with transaction(engine) as session:
        feedback_release.release_feedback(session, year=2024, acting=ADMIN, now=NOW)
    assert [read(a) for a in (coordinator, contact)] == ["application/pdf", "application/pdf"]


def test_the_release_queues_one_letter_with_the_report_per_entry_once(engine: Engine) -> None:
    team = _team(engine)
    ids = [examined_entry(engine, name, team) for name in ("Förskolan Solen", "Äldreboendet")]
    for _ in range(2):  # the second release finds nothing left to release
        with transaction(engine) as session:
            feedback_release.release_feedback(
                session, year=2024, award_class="socialtjanst", acting=ADMIN, now=NOW
            )
    letters = _letters(engine)
    assert sorted(letter.entry_id for letter in letters) == ids
    (report,) = made_files_of(letters[0].payload)
    assert report.content_type == "application/pdf" and report.filename.endswith(".pdf")
    with transaction(engine) as session:
        assert set(session.exec(select(Entry.stage)).all()) == {"feedback"}
        entry = session.get(Entry, ids[0])
        assert entry is not None and "Tydligt ledarskap" in entry.facts["feedback"]["strengths"]
        releases = session.exec(select(FeedbackRelease).order_by(FeedbackRelease.id)).all()
        assert [r.released for r in releases] == [2, 0]
        actions = session.exec(select(AuditEvent.action)).all()
        assert actions.count("feedback_released") == 2


def test_a_scheduled_release_waits_for_its_moment_and_runs_once(engine: Engine) -> None:
    team = _team(engine)
    examined_entry(engine, "Förskolan Solen", team)
    with transaction(engine) as session:
        feedback_release.release_feedback(
            session, year=2024, at=NOW + timedelta(hours=2), acting=ADMIN, now=NOW
        )
    assert feedback_release.release_due_feedback(engine, now=NOW + timedelta(hours=1)) == 0
    assert _letters(engine) == []
    later = NOW + timedelta(hours=3)
    assert feedback_release.release_due_feedback(engine, now=later) == 1
    assert feedback_release.release_due_feedback(engine, now=later) == 0
    assert len(_letters(engine)) == 1


def test_the_report_holds_the_unit_criteria_summary_and_examiners(engine: Engine) -> None:
    team = _team(engine)
    entry_id = examined_entry(engine, "Förskolan Solen", team)
    with transaction(engine) as session:
        _, _, pdf = feedback_release.report_for_reader(session, ADMIN, entry_id, "pdf")
        name, _, word = feedback_release.report_for_reader(session, ADMIN, entry_id, "docx")
    assert name == "Återkoppling Kvalitetsutmärkelsen 2024 - Förskolan Solen.docx"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    flat = " ".join(text.split())
    for expected in (
        "Återkoppling till Förskolan Solen", "Sammanfattning", "Styrkor", "Utvecklingsområden",
        "Ett föredömligt systematiskt kvalitetsarbete", "Följ upp resultaten oftare",
        "Aino Väisänen", "Małgorzata Wójcik (huvudexaminator)",
    ):  # fmt: skip
        assert expected in flat, expected
    document = docx.Document(io.BytesIO(word))
    words = "\n".join(p.text for p in document.paragraphs)
    for expected in ("Małgorzata Wójcik (huvudexaminator)", "Aino Väisänen", "Engagerad personal"):
        assert expected in words, expected
