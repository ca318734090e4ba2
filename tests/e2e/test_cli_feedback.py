"""Feedback from the command line: `feedback report` writes an entry's report as PDF and Word,
`feedback release` refuses while an entry lacks consensus (naming it) and releases, now or
at a later moment."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from tests.e2e.test_cli import Cli
from tests.integration.test_feedback_release import NOW, examined_entry
from workflow import services
from workflow.auth import actor_of
from workflow.db import make_engine, transaction
from workflow.models import Entry


def test_reports_are_written_and_a_release_waits_for_every_consensus(
    sqlite_url: str, tmp_path: Path
) -> None:
    cli = Cli(sqlite_url)
    cli("init")
    engine = make_engine(sqlite_url)
    try:
        with transaction(engine) as session:
            culture = services.create_organisation(
                session, name="Kulturförvaltningen", kind="forvaltning", board="Kulturnämnden"
            )
            team = tuple(
                actor_of(
                    services.create_user(
                        session, name=name, role="examiner", organisation_id=culture.id, now=NOW
                    ).user
                )
                for name in ("Paweł Kowalski", "Aino Väisänen")
            )
        ready = examined_entry(engine, "Förskolan Solen", team)
        examined_entry(engine, "Ungdomsjouren", team, consensus=False)

        pdf, word = tmp_path / "rapport.pdf", tmp_path / "rapport.docx"
        cli("feedback", "report", str(ready), "--pdf", str(pdf), "--docx", str(word))
        assert pdf.read_bytes()[:4] == b"%PDF" and word.read_bytes()[:2] == b"PK"

        refused = cli("feedback", "release", "--year", "2024", ok=False)
        assert refused.returncode != 0 and "Ungdomsjouren" in refused.stderr
        later = cli("feedback", "release", "--year", "2024", "--at", "2030-10-01T09:00")
        assert "släpps den 1 oktober 2030 kl. 09.00" in later.stdout
        with transaction(engine) as session:
            assert set(session.exec(select(Entry.stage)).all()) == {"examined", "submitted"}
    finally:
        engine.dispose()
