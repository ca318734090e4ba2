"""Feedback release over HTTP against a real server on SQLite and PostgreSQL: the report is
embargoed until the admin releases, a release with an entry lacking consensus is refused with
its name, and the released report opens for the unit's coordinator."""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlmodel import select

from tests.e2e.conftest import LiveServer
from tests.e2e.test_api_years import expect, refused
from tests.integration.test_feedback_release import examined_entry
from workflow import services
from workflow.db import make_engine, transaction
from workflow.domain.access import Actor, Role
from workflow.models import Organisation, OutboxMessage

API = "/api/v1"


def test_the_report_is_embargoed_until_the_release(server: LiveServer) -> None:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        admin = server.client(server.direct_user("kansliet", "admin"))
        with transaction(engine) as session:
            culture = services.create_organisation(
                session, name="Kulturförvaltningen", kind="forvaltning", board="Kulturnämnden"
            ).id
        examiners = []
        for name in ("Łukasz Nowak", "Aino Väisänen"):
            server.direct_user(name, "examiner", organisation_id=culture)
            examiners.append(Actor(server.user_ids[name], name, Role.EXAMINER))
        ready = examined_entry(engine, "Förskolan Solen", tuple(examiners))
        waiting = examined_entry(engine, "Ungdomsjouren", tuple(examiners), consensus=False)
        with transaction(engine) as session:
            org = session.exec(
                select(Organisation).where(Organisation.name == "Socialförvaltningen")
            ).first()
            assert org is not None
        coordinator = server.client(
            server.direct_user("samordnaren", "coordinator", organisation_id=org.id)
        )
        report = f"{API}/entries/{ready}/feedback-report.pdf"
        refused(coordinator.get(report), 404, "not_found")
        assert admin.get(report).headers["content-type"] == "application/pdf"
        refused(coordinator.post(f"{API}/cycles/2024/feedback-release", json={}), 403, "forbidden")
        reasons = refused(
            admin.post(f"{API}/cycles/2024/feedback-release", json={}), 409, "missing_consensus"
        )
        assert "Ungdomsjouren" in reasons[0]["message"]
        state = expect(admin.get(f"{API}/cycles/2024/feedback-release"), 200)
        social = next(c for c in state["classes"] if c["award_class"] == "socialtjanst")
        assert (social["ready"], social["lacking"]) == (1, ["Ungdomsjouren"])

        with transaction(engine) as session:
            assert session.exec(select(OutboxMessage.kind)).all().count("feedback_letter") == 0
        # Withdraw the one that will not be examined, then release.
        version = expect(admin.get(f"{API}/entries/{waiting}"), 200)["version"]
        expect(
            admin.post(
                f"{API}/entries/{waiting}/transitions",
                json={"to": "withdrawn", "version": version, "note": "Drog sig ur."},
            ),
            200,
        )
        done = expect(admin.post(f"{API}/cycles/2024/feedback-release", json={}), 200)
        assert (done["status"], done["released"]) == ("done", 1)
        pdf = coordinator.get(report)
        assert pdf.status_code == 200
        text = " ".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
        assert "Återkoppling till Förskolan Solen" in text
        docx = coordinator.get(f"{API}/entries/{ready}/feedback-report.docx")
        assert docx.status_code == 200 and docx.content[:2] == b"PK"
        with transaction(engine) as session:
            assert session.exec(select(OutboxMessage.kind)).all().count("feedback_letter") == 1
    finally:
        engine.dispose()
