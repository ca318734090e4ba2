"""The prize ceremony (#15 point 7), on SQLite and PostgreSQL: the prize cheque's amount per
cycle, a winner's diploma and prize letter (opened the way a person opens them, and the
diploma rendered to a PNG to look at), who may fetch them and when, and the invitation to
the ceremony: one per address, again only to whom is new, audited."""

from __future__ import annotations

import io
import os
import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import docx
import pytest
from icalendar import Calendar
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import col, select

from tests.conftest import NOW, seed_cycle, seed_entry, seed_unit
from tests.integration.test_exports import step, winner
from workflow import services
from workflow.db import transaction
from workflow.documents.winner import documents_for_winner
from workflow.domain.access import Actor, Role
from workflow.domain.errors import Forbidden, InvalidInput, NotFound
from workflow.models import AuditEvent, Cycle, Entry, OutboxMessage, Unit
from workflow.services import ceremony, registry

ADMIN = Actor(1, "kansliet", Role.ADMIN)
LATER = NOW + timedelta(days=200)


def flat(text: str) -> str:
    """Text as a reader sees it: no-break spaces and line breaks are just spaces."""
    return " ".join(text.replace("\u00a0", " ").split())


def pdf_text(data: bytes) -> str:
    return flat(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages))


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return flat(" ".join([p.text for p in document.paragraphs] + cells))


def organisation_of(engine: Engine, entry_id: int) -> tuple[int, int]:
    with transaction(engine) as session:
        entry = session.get_one(Entry, entry_id)
        unit = session.get_one(Unit, entry.unit_id)
        return unit.organisation_id, unit.id or 0


# --- the prize amount ------------------------------------------------------------------------


def test_the_prize_amount_is_the_cycle_s_and_a_wrong_one_is_refused(engine: Engine) -> None:
    seed_cycle(engine)
    with transaction(engine) as session:
        cycle = session.exec(select(Cycle).where(Cycle.year == 2024)).one()
        assert cycle.prize_amount == 50_000  # the default
    for wrong in (-1, 10_000_001):
        with pytest.raises(InvalidInput) as refused, transaction(engine) as session:
            registry.update_cycle(session, year=2024, now=NOW, acting=ADMIN, prize_amount=wrong)
        assert refused.value.reasons[0].code == "invalid_prize_amount"
        assert "kronor" in refused.value.reasons[0].message
    with transaction(engine) as session:
        registry.update_cycle(session, year=2024, now=NOW, acting=ADMIN, prize_amount=75_000)
    with transaction(engine) as session:
        cycle = session.exec(select(Cycle).where(Cycle.year == 2024)).one()
        assert cycle.prize_amount == 75_000
        audit = session.exec(
            select(AuditEvent).where(
                AuditEvent.subject == "cycle", AuditEvent.action == "corrected"
            )
        ).all()
        assert [a.changes for a in audit] == [{"prize_amount": [50_000, 75_000]}]
    with pytest.raises(InvalidInput), transaction(engine) as session:
        services.create_cycle(
            session, year=2025, contribution_deadline=NOW.date().replace(year=2025, month=5),
            extract_deadline=NOW.date().replace(year=2025, month=6),
            winners_date=NOW.date().replace(year=2025, month=11), prize_amount=-5,
        )  # fmt: skip


# --- the winner's documents ------------------------------------------------------------------


def test_a_winner_s_diploma_and_prize_letter_say_who_won_what(
    engine: Engine, tmp_path: Path
) -> None:
    entry_id = winner(engine)
    with transaction(engine) as session:
        registry.update_cycle(session, year=2024, now=NOW, acting=ADMIN, prize_amount=125_000)
    with transaction(engine) as session:
        files = {f.filename: f for f in documents_for_winner(session, entry_id)}
    assert sorted(files) == [
        "Diplom Kvalitetsutmärkelsen 2024 - Ungdomsjouren.pdf",
        "Prisbrev Kvalitetsutmärkelsen 2024 - Ungdomsjouren.docx",
        "Prisbrev Kvalitetsutmärkelsen 2024 - Ungdomsjouren.pdf",
    ]
    diploma = files["Diplom Kvalitetsutmärkelsen 2024 - Ungdomsjouren.pdf"].data
    [page] = PdfReader(io.BytesIO(diploma)).pages
    assert float(page.mediabox.width) > float(page.mediabox.height)  # A4 landscape
    assert round(float(page.mediabox.width)) == 842 and round(float(page.mediabox.height)) == 595
    text = pdf_text(diploma)
    for words in (
        "DIPLOM",
        "Stockholms stads kvalitetsutmärkelse 2024",
        "Ungdomsjouren",
        "Socialförvaltningen",
        "i klassen socialtjänst",
        "Stockholm den 26 november 2024",
        "Stadsdirektör, ordförande i domarkommittén",
    ):
        assert words in text, (words, text)

    for fmt in ("docx", "pdf"):
        made = files[f"Prisbrev Kvalitetsutmärkelsen 2024 - Ungdomsjouren.{fmt}"]
        text = docx_text(made.data) if fmt == "docx" else pdf_text(made.data)
        for words in (
            "Prisbrev – Stockholms stads kvalitetsutmärkelse 2024",
            "Till Ungdomsjouren, Socialförvaltningen",
            "i klassen socialtjänst",
            "en prischeck på 125 000 kronor",
            "till att utveckla verksamheten vidare",
            "fortsatta kvalitetsarbete",
            "den 26 november 2024 kl. 15.00–17.00",
        ):
            assert words in text, (fmt, words, text)
        assert "50 000" not in text  # the cycle's amount, not the default

    png = render_png(diploma, tmp_path / "diplom.png")
    assert png.width > png.height
    # The unit's name is printed: the middle band of the page is not blank paper.
    band = png.crop((png.width // 4, png.height // 3, 3 * png.width // 4, 2 * png.height // 3))
    assert band.convert("L").getextrema()[0] < 80


def render_png(pdf: bytes, target: Path) -> Any:
    """The first page as a PNG a person can open (also copied to $KVALITET_ARTIFACTS)."""
    import pypdfium2 as pdfium  # a test dependency: never skipped

    image = pdfium.PdfDocument(pdf)[0].render(scale=1.5).to_pil()
    image.save(target)
    artifacts = os.environ.get("KVALITET_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(artifacts) / target.name)
    return image


def test_the_documents_are_the_admin_s_at_once_and_the_unit_s_once_announced(
    engine: Engine,
) -> None:
    entry_id = winner(engine)
    organisation_id, unit_id = organisation_of(engine, entry_id)
    other_id = seed_unit(engine, name="Äldreboendet", organisation="Äldreförvaltningen")
    with transaction(engine) as session:
        other_org = session.get_one(Unit, other_id).organisation_id
    coordinator = Actor(2, "samordnaren", Role.COORDINATOR, organisation_id=organisation_id)
    contact = Actor(3, "chefen", Role.UNIT_CONTACT, unit_id=unit_id)
    strangers = (
        Actor(4, "annan", Role.COORDINATOR, organisation_id=other_org),
        Actor(5, "annan chef", Role.UNIT_CONTACT, unit_id=other_id),
        Actor(6, "examinator", Role.EXAMINER),
        Actor(7, "jury", Role.JURY),
    )
    with transaction(engine) as session:
        for actor in (ADMIN, coordinator, contact):
            made = ceremony.prize_document(session, entry_id, "diploma", "pdf", acting=actor)
            assert made.data.startswith(b"%PDF")
        for actor in strangers:
            with pytest.raises(NotFound):
                ceremony.prize_document(session, entry_id, "prize-letter", "docx", acting=actor)
        with pytest.raises(NotFound):  # no such format
            ceremony.prize_document(session, entry_id, "diploma", "docx", acting=ADMIN)
        with pytest.raises(NotFound):
            ceremony.prize_document(session, 999_999, "diploma", "pdf", acting=ADMIN)


def test_before_the_decision_or_without_a_win_only_the_admin_gets_them(engine: Engine) -> None:
    entry_id = winner(engine)
    organisation_id, _ = organisation_of(engine, entry_id)
    second = seed_unit(engine, name="Fältgruppen")
    with transaction(engine) as session:
        entry = services.create_entry(
            session, unit_id=second, year=2024, award_class="socialtjanst", actor="t", now=NOW
        )
    assert entry.id is not None
    coordinator = Actor(2, "samordnaren", Role.COORDINATOR, organisation_id=organisation_id)
    with transaction(engine) as session:  # notified only: nothing decided yet
        with pytest.raises(NotFound):
            ceremony.prize_document(session, entry.id, "diploma", "pdf", acting=coordinator)
        assert ceremony.prize_document(session, entry.id, "diploma", "pdf", acting=ADMIN).data
        assert ceremony.prize_links(coordinator, session.get_one(Entry, entry.id)) == []
        assert len(ceremony.prize_links(coordinator, session.get_one(Entry, entry_id))) == 3


def test_a_not_awarded_entry_has_no_documents_for_its_unit(engine: Engine) -> None:
    entry = seed_entry_in_feedback(engine)
    step(engine, entry, "jury", outcome="not_awarded")
    organisation_id, unit_id = organisation_of(engine, entry)
    with transaction(engine) as session:
        for actor in (
            Actor(2, "samordnaren", Role.COORDINATOR, organisation_id=organisation_id),
            Actor(3, "chefen", Role.UNIT_CONTACT, unit_id=unit_id),
        ):
            with pytest.raises(NotFound):
                ceremony.prize_document(session, entry, "prize-letter", "pdf", acting=actor)


def seed_entry_in_feedback(engine: Engine) -> int:
    entry = seed_entry(engine)
    assert entry.id is not None
    step(engine, entry.id, "board_decision", decision="approved", meeting_date="2024-06-10",
         paragraph="§ 12")  # fmt: skip
    step(engine, entry.id, "extract_sent", sent_on="2024-06-12")
    step(engine, entry.id, "submitted", submitted_on="2024-05-17")
    step(engine, entry.id, "examined", site_visit_on="2024-09-12", examiner="Åsa Öberg")
    step(engine, entry.id, "feedback", strengths="Styrning", development_areas="Uppföljning")
    return entry.id


# --- the ceremony invitation -----------------------------------------------------------------


def seed_participants(engine: Engine) -> dict[str, int]:
    """Two organisations: Socialförvaltningen with two units (one withdrawn later) sharing a
    coordinator, Äldreförvaltningen with one unit whose contact is its coordinator too."""
    seed_cycle(engine)
    ids: dict[str, int] = {}
    for name, organisation in (
        ("Ungdomsjouren", "Socialförvaltningen"),
        ("Fältgruppen", "Socialförvaltningen"),
        ("Mottagningen", "Socialförvaltningen"),
        ("Äldreboendet", "Äldreförvaltningen"),
    ):
        unit_id = seed_unit(engine, name=name, organisation=organisation)
        with transaction(engine) as session:
            unit = session.get_one(Unit, unit_id)
            unit.contact_email = f"chef.{unit_id}@example.se"
            if name == "Äldreboendet":
                unit.contact_email = "samordnare@example.se"  # the coordinator runs it too
            session.add(unit)
            entry = services.create_entry(
                session, unit_id=unit_id, year=2024, award_class="socialtjanst", actor="t", now=NOW
            )
            ids[name] = entry.id or 0
    with transaction(engine) as session:
        services.withdraw_entry(
            session, entry_id=ids["Mottagningen"], version=1, actor="t", now=NOW, note="Avstår"
        )
    return ids


def invitations(engine: Engine) -> dict[str, OutboxMessage]:
    with transaction(engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.kind) == "ceremony_invitation")
        ).all()
        return {row.recipient: row for row in rows}


def test_one_invitation_per_address_to_every_participant_and_coordinator(engine: Engine) -> None:
    ids = seed_participants(engine)
    with transaction(engine) as session:
        contacts = {
            name: session.get_one(Unit, session.get_one(Entry, entry_id).unit_id).contact_email
            for name, entry_id in ids.items()
        }
    with transaction(engine) as session:
        done = ceremony.send_ceremony_invitations(session, year=2024, now=LATER, acting=ADMIN)
    expected = {contacts["Ungdomsjouren"], contacts["Fältgruppen"], "samordnare@example.se"}
    assert set(done.queued) == expected and done.already == ()
    assert contacts["Mottagningen"] not in done.queued  # withdrawn: not taking part
    rows = invitations(engine)
    assert set(rows) == expected
    coordinator = rows["samordnare@example.se"]
    assert coordinator.key == "ceremony/2024/samordnare@example.se"
    assert coordinator.payload["units"] == ["Fältgruppen", "Ungdomsjouren", "Äldreboendet"]
    assert coordinator.payload["coordinator_of"] == ["Socialförvaltningen", "Äldreförvaltningen"]
    assert rows[contacts["Ungdomsjouren"]].payload["units"] == ["Ungdomsjouren"]

    calendar = Calendar.from_ical(coordinator.payload["invitation_ics"])
    assert str(calendar["METHOD"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    start = event.decoded("DTSTART")
    assert start == datetime(2024, 11, 26, 15, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert start.astimezone(UTC) == datetime(2024, 11, 26, 14, 0, tzinfo=UTC)
    assert event.decoded("DTEND").hour == 17
    assert str(event["UID"]) == "ceremony-2024@kvalitet.stockholm.se"  # the feed's event
    assert str(event["ATTENDEE"]) == "mailto:samordnare@example.se"
    assert "Stadshuset" in str(event["LOCATION"])

    # Again: nobody new, nothing queued; a new participant later gets only theirs.
    with transaction(engine) as session:
        again = ceremony.send_ceremony_invitations(session, year=2024, now=LATER, acting=ADMIN)
    assert again.queued == () and set(again.already) == expected
    late = seed_unit(engine, name="Nattpatrullen", organisation="Äldreförvaltningen")
    with transaction(engine) as session:
        unit = session.get_one(Unit, late)
        unit.contact_email = "natt@example.se"
        session.add(unit)
        services.create_entry(
            session, unit_id=late, year=2024, award_class="socialtjanst", actor="t", now=NOW
        )
    with transaction(engine) as session:
        third = ceremony.send_ceremony_invitations(session, year=2024, now=LATER, acting=None)
    assert third.queued == ("natt@example.se",)
    assert len(invitations(engine)) == 4
    with transaction(engine) as session:
        audit = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "ceremony_invited")
            .order_by(col(AuditEvent.id))
        ).all()
    assert [a.changes["ceremony_invitations"] for a in audit] == [[0, 3], [3, 3], [3, 4]]
    assert [a.actor for a in audit] == ["kansliet", "kansliet", registry.OPERATOR]


def test_a_moved_ceremony_reaches_everyone_invited_once_with_the_new_time(engine: Engine) -> None:
    """The admin moves the ceremony after the invitations were queued: the one already sent
    is followed by a "ny tid" letter whose calendar event replaces the old (same UID, higher
    SEQUENCE); one still waiting is stopped and replaced by an invitation with the new day, so
    the old day never leaves; the same change again queues nothing; all of it audited."""
    seed_participants(engine)
    with transaction(engine) as session:
        ceremony.send_ceremony_invitations(session, year=2024, now=LATER, acting=ADMIN)
    first = invitations(engine)
    sent_to = "samordnare@example.se"
    with transaction(engine) as session:  # the relay has sent the coordinator's
        row = session.get_one(OutboxMessage, first[sent_to].id)
        row.status, row.sent_at = "sent", LATER
        session.add(row)
    waiting = {address for address in first if address != sent_to}

    with transaction(engine) as session:
        registry.update_cycle(
            session, year=2024, now=LATER, acting=ADMIN, winners_date=date(2024, 11, 28)
        )
    with transaction(engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    ceremony_rows = [r for r in rows if r.key.startswith("ceremony/2024/")]
    status = {r.key: r.status for r in ceremony_rows}
    assert all(status[f"ceremony/2024/{address}"] == "cancelled" for address in waiting)
    assert status[f"ceremony/2024/{sent_to}"] == "sent"
    new = {r.recipient: r for r in ceremony_rows if r.status == "queued"}
    assert set(new) == set(first)
    assert new[sent_to].kind == "ceremony_moved"
    assert new[sent_to].payload["previous_on"] == "2024-11-26"
    assert {new[a].kind for a in waiting} == {"ceremony_invitation"}
    old_event = Calendar.from_ical(first[sent_to].payload["invitation_ics"]).walk("VEVENT")[0]
    for row in new.values():
        assert row.payload["ceremony_on"] == "2024-11-28"
        assert row.payload["units"] == first[row.recipient].payload["units"]
        [event] = Calendar.from_ical(row.payload["invitation_ics"]).walk("VEVENT")
        assert event.decoded("DTSTART").date() == date(2024, 11, 28)
        assert str(event["UID"]) == str(old_event["UID"])
        assert int(event["SEQUENCE"]) > int(old_event["SEQUENCE"])

    # The same day again changes nothing; a later send round invites nobody twice.
    with transaction(engine) as session:
        registry.update_cycle(
            session, year=2024, now=LATER, acting=ADMIN, winners_date=date(2024, 11, 28)
        )
        again = ceremony.send_ceremony_invitations(session, year=2024, now=LATER, acting=ADMIN)
    assert again.queued == ()
    with transaction(engine) as session:
        assert len(session.exec(select(OutboxMessage)).all()) == len(rows)
        [audit] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "ceremony_moved")
        ).all()
    assert audit.actor == "kansliet"
    assert audit.changes["winners_date"] == ["2024-11-26", "2024-11-28"]
    # The cycle form sends the hours it shows (the defaults, never stored): not a move.
    with transaction(engine) as session:
        same_hours = {"ceremony_starts_at": time(15, 0), "ceremony_ends_at": time(17, 0)}
        registry.update_cycle(
            session, year=2024, now=LATER, acting=ADMIN, prize_amount=60_000, **same_hours
        )
        # And a move recorded twice (a retried request) keeps the new letters as they are.
        cycle = session.exec(select(Cycle).where(Cycle.year == 2024)).one()
        ceremony.reissue_moved_ceremony(
            session, cycle, previous_on=date(2024, 11, 26), previous_hours=(time(15), time(17)),
            actor="kansliet", now=LATER,
        )  # fmt: skip
    with transaction(engine) as session:
        after = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    assert [(r.key, r.status) for r in after] == [(r.key, r.status) for r in rows]

    # New hours on the same day: everyone invited is told again, the start moved, the length
    # kept; the letter names the hours it replaces.
    with transaction(engine) as session:
        registry.update_cycle(
            session, year=2024, now=LATER, acting=ADMIN, ceremony_starts_at=time(16, 0)
        )
    with transaction(engine) as session:
        latest = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status == "queued", OutboxMessage.kind == "ceremony_moved")
            .order_by(col(OutboxMessage.id).desc())
        ).first()
        cycle = session.exec(select(Cycle).where(Cycle.year == 2024)).one()
    assert (cycle.ceremony_starts_at, cycle.ceremony_ends_at) == (time(16, 0), time(18, 0))
    assert latest is not None and latest.recipient == sent_to
    assert (latest.payload["starts_at"], latest.payload["ends_at"]) == ("16:00", "18:00")
    assert latest.payload["previous_starts_at"] == "15:00"
    [event] = Calendar.from_ical(latest.payload["invitation_ics"]).walk("VEVENT")
    assert event.decoded("DTSTART").hour == 16
    with pytest.raises(InvalidInput) as wrong, transaction(engine) as session:
        registry.update_cycle(session, year=2024, now=LATER, acting=ADMIN,
                              ceremony_ends_at=time(15, 0))  # fmt: skip
    assert wrong.value.reasons[0].code == "ceremony_hours"


def test_only_the_admin_invites_and_not_to_an_empty_or_unknown_cycle(engine: Engine) -> None:
    seed_cycle(engine)
    with pytest.raises(Forbidden), transaction(engine) as session:
        ceremony.send_ceremony_invitations(
            session, year=2024, now=LATER, acting=Actor(2, "s", Role.COORDINATOR, 1)
        )
    with pytest.raises(InvalidInput) as empty, transaction(engine) as session:
        ceremony.send_ceremony_invitations(session, year=2024, now=LATER, acting=ADMIN)
    assert "Ingen enhet deltar i omgång 2024" in empty.value.reasons[0].message
    with pytest.raises(NotFound), transaction(engine) as session:
        ceremony.send_ceremony_invitations(session, year=2031, now=LATER, acting=ADMIN)
    assert invitations(engine) == {}
    with transaction(engine) as session:
        assert not session.exec(
            select(AuditEvent).where(AuditEvent.action == "ceremony_invited")
        ).all()
