"""The second half of the year, walked in the browser as the users walk it (issue #15): the
admin puts two examiners on the entry's team and seats the jury with its chair; each examiner
assesses (the second sees the first's only once their own is in); the lead writes the
consensus; the admin releases the class's feedback and the unit finds its report; the chair
decides with a motivation, and until the announcement the unit sees no outcome and no outcome
e-mail leaves; the admin announces and the winner's unit gets "Grattis!" once, with the diploma
and the prize letter attached. A real server on SQLite, Debian's chromium with axe-core on
every page, a real Celery worker relaying to a real SMTP server; the attachments are opened with
pypdf and python-docx and the diploma is rendered to a PNG a person can look at."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select

from tests.e2e.conftest import LiveServer
from tests.e2e.support import (  # noqa: F401  (redis_url is a fixture)
    SmtpSink,
    Worker,
    redis_url,
    wait_until,
    worker_env,
)
from tests.e2e.test_web_examination import assess, log_in
from tests.e2e.test_web_feedback import release_class, report_link
from tests.e2e.test_web_years import no_violations, unit_spec
from tests.integration.test_ceremony import docx_text, pdf_text, render_png
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import OutboxMessage
from workflow.services import examination

YEAR = 2027  # the winners' day (25 November 2027) is ahead: only the admin's word announces
ADMIN = ("kansliet", "kansliet-lösen-1")
LENA = ("lena", "lena-lösen-12")  # the lead examiner
OLLE = ("olle", "olle-lösen-12")
ANNA = ("anna", "anna-lösen-1234")  # stadsdirektören, the jury's chair
CHEFEN = ("chefen", "chefen-lösen-12")  # the unit's contact
CONTACT = "chef@example.se"
MOTIVATION = "Ett föredöme för hela staden i sitt lärande kvalitetsarbete"


@dataclass
class World:
    server: LiveServer
    engine: Engine
    entry_id: int
    ids: dict[str, int]
    sink: SmtpSink


@pytest.fixture
def world(sqlite_server: LiveServer, redis_url: str, tmp_path: Path) -> Iterator[World]:
    """What comes before the second half, through the services: 2027 with its suggested
    criteria; Ungdomsjouren (Socialförvaltningen, budget in balance, a contact address) with its
    contribution in and its site visit booked; the admin, two examiners of Kulturförvaltningen,
    the chair and the unit's contact. A worker relays the outbox to an SMTP server throughout."""
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    with transaction(engine) as session:
        services.create_cycle(
            session, year=YEAR, contribution_deadline=date(YEAR, 5, 17),
            extract_deadline=date(YEAR, 6, 28), winners_date=date(YEAR, 11, 25),
        )  # fmt: skip
        examination.seed_default_criteria(session, year=YEAR, now=now)
        social = services.create_organisation(
            session, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden"
        )
        culture = services.create_organisation(
            session, name="Kulturförvaltningen", kind="forvaltning", board="Kulturnämnden"
        )
        spec = unit_spec(social.id or 0, "Ungdomsjouren", CONTACT)
        spec.privately_run = True
        unit = services.create_unit(session, spec)
        entry = services.create_entry(
            session, unit_id=unit.id or 0, year=YEAR, award_class="socialtjanst",
            actor="test", now=now,
        )  # fmt: skip
        entry = services.advance_entry(
            session, entry_id=entry.id or 0, target="submitted", version=1, actor="test", now=now
        )
        services.schedule_site_visit(
            session, entry_id=entry.id or 0, version=entry.version, on=date(YEAR, 9, 14),
            actor="test", now=now,
        )  # fmt: skip
        for (name, password), role, org, unit_id in (
            (ADMIN, "admin", None, None), (LENA, "examiner", culture.id, None),
            (OLLE, "examiner", culture.id, None), (ANNA, "jury", None, None),
            (CHEFEN, "unit_contact", None, unit.id),
        ):  # fmt: skip
            made = services.create_user(
                session, name=name, role=role, organisation_id=org, unit_id=unit_id,
                password=password, now=now,
            )  # fmt: skip
            ids[name] = made.user.id or 0
    sink = SmtpSink().start()
    env = worker_env(sqlite_server.env["DATABASE_URL"], redis_url, sink.port, tmp_path)
    worker = Worker(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        yield World(sqlite_server, engine, entry.id or 0, ids, sink)
    finally:
        worker.stop()
        sink.stop()
        engine.dispose()


def test_the_second_half_of_the_year_from_team_to_the_winner_s_e_mail(
    world: World, page: Page, axe_source: str, tmp_path: Path
) -> None:
    url, entry_id = world.server.url, world.entry_id

    # 1. The admin sets the team from the entry's page and seats the jury with its chair.
    log_in(page, world.server, ADMIN)
    page.get_by_role("navigation").get_by_role("link", name="Poster").click()
    page.get_by_role("link", name="Ungdomsjouren").click()
    page.get_by_role("link", name="Ändra examinatorsteamet").click()
    no_violations(page, axe_source)
    examiners = page.get_by_role("group", name="Examinatorer")
    examiners.get_by_label("lena").check()
    examiners.get_by_label("olle").check()
    page.get_by_role("group", name="Huvudexaminator").get_by_label("lena").check()
    page.get_by_role("button", name="Spara teamet").click()
    team = page.get_by_role("region", name="Examinatorer")
    expect(team).to_contain_text("lena (Kulturförvaltningen) (huvudexaminator)")
    expect(team).to_contain_text("olle (Kulturförvaltningen)")
    no_violations(page, axe_source)

    page.goto(f"{url}/admin/cycles/{YEAR}")
    page.get_by_role("link", name=f"Juryn {YEAR}").click()
    no_violations(page, axe_source)
    page.check(f"#member-{world.ids['anna']}")
    page.check(f"#chair-{world.ids['anna']}")
    page.get_by_role("button", name="Spara juryn").click()
    expect(page.get_by_role("region", name="Ledamöter")).to_contain_text("anna (ordförande)")

    # 2. Each examiner assesses; Lena sees Olle's only once hers is in.
    log_in(page, world.server, OLLE)
    page.get_by_role("region", name="Att göra").get_by_role(
        "link", name="Skriv bedömning (Ungdomsjouren)"
    ).click()
    assess(page, axe_source, "3")
    expect(page.get_by_role("status")).to_contain_text("Bedömningen är inlämnad och låst")
    log_in(page, world.server, LENA)
    page.get_by_role("region", name="Att göra").get_by_role(
        "link", name="Skriv bedömning (Ungdomsjouren)"
    ).click()
    expect(page.locator("main")).not_to_contain_text("olle")  # not before hers is in
    expect(page.locator("main")).not_to_contain_text("Tydliga mål")
    assess(page, axe_source, "4")
    expect(page.get_by_role("status")).to_contain_text("Bedömningen är inlämnad och låst")
    expect(page.get_by_text("olle – inlämnad")).to_be_visible()

    # 3. The lead writes the consensus; the entry is examined.
    page.goto(f"{url}/")
    page.get_by_role("region", name="Att göra").get_by_role(
        "link", name="Skriv konsensus (Ungdomsjouren)"
    ).click()
    expect(page.get_by_text("Spridning för Ledarskap: ")).to_contain_text(
        "lägst 3, högst 4, medel 3,5"
    )
    for score_field in page.get_by_label("Poäng (1–5)").all():
        score_field.select_option("4")
    page.get_by_label("Styrkor").first.fill("Ledningen gör målen kända för alla.")
    page.get_by_label("Utvecklingsområden").first.fill("Följ upp brukarnas synpunkter.")
    page.get_by_label("Sammanfattning").fill("Ett lärande kvalitetsarbete med tydlig ledning.")
    no_violations(page, axe_source)
    page.get_by_role("button", name="Fastställ konsensus").click()
    expect(page.get_by_role("status")).to_contain_text("Konsensus är fastställd")
    expect(page.get_by_text("Examinerad").first).to_be_visible()
    page.goto(f"{url}/entries/{entry_id}")  # feedback is the office's to release, not hers
    expect(page.locator("#nasta-steg")).to_contain_text(
        "Släpp återkopplingen till enheten (utmärkelsens kansli"
    )
    page.goto(f"{url}/")
    expect(page.get_by_role("region", name="Att göra")).not_to_contain_text("Ungdomsjouren")

    # 4. The admin releases the class's feedback; the unit's contact finds the report.
    log_in(page, world.server, ADMIN)
    page.goto(f"{url}/admin/cycles/{YEAR}")
    page.get_by_role("link", name=f"Återkoppling {YEAR}").click()
    expect(page.locator("#feedback-classes")).to_contain_text("socialtjänst")
    no_violations(page, axe_source)
    release_class(page, "socialtjanst")
    log_in(page, world.server, CHEFEN)
    report_link(page, url, entry_id)
    no_violations(page, axe_source)
    report = page.request.get(f"{url}/entries/{entry_id}/feedback-report.pdf")
    assert report.status == 200 and "Ledningen gör målen kända" in pdf_text(report.body())
    # The worker is relaying: the feedback letter has reached the unit.
    assert wait_until(lambda: bool(received(world.sink, "Återkopplingsrapport")), timeout=60), (
        tmp_path / "worker.log"
    ).read_text()[-3000:]

    # 5. The chair decides from the class's page; nothing of it shows before the announcement.
    log_in(page, world.server, ANNA)
    page.get_by_role("region", name="Att göra").get_by_role(
        "link", name="Besluta (Socialtjänst)"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Juryn: Socialtjänst {YEAR}")
    expect(page.get_by_role("region", name="Rangordning")).to_contain_text(
        "Ungdomsjouren (Socialförvaltningen): 4,0 poäng"
    )
    no_violations(page, axe_source)
    decision = page.locator("form", has=page.locator("#decision-motivation"))
    decision.get_by_label("Ungdomsjouren").check()
    decision.get_by_label("Motivering").fill(MOTIVATION)
    decision.get_by_role("button", name="Spara").click()
    expect(page.get_by_role("region", name="Beslut")).to_contain_text("Vinnare: Ungdomsjouren")
    expect(page.get_by_role("region", name="Beslut")).to_contain_text(MOTIVATION)

    log_in(page, world.server, CHEFEN)
    for path in (f"/entries/{entry_id}", "/entries"):
        page.goto(f"{url}{path}")
        expect(page.locator("main")).to_contain_text("Ungdomsjouren")
        shown = page.locator("body").inner_text()
        assert not re.search(r"vinn", shown, re.IGNORECASE), (path, shown)
        assert MOTIVATION not in shown and "föredöme" not in shown, (path, shown)
    for document in ("diploma.pdf", "prize-letter.docx", "prize-letter.pdf"):
        response = page.request.get(f"{url}/entries/{entry_id}/{document}")
        assert response.status == 404, (document, response.status)
    time.sleep(4)  # four outbox sweeps: had anything been queued, it would have gone
    assert received(world.sink, "Grattis") == []
    assert outcome_messages(world.engine) == 0

    # 6. The admin announces; the worker delivers the winner's e-mail with its documents.
    log_in(page, world.server, ADMIN)
    page.goto(f"{url}/admin/cycles/{YEAR}")
    page.get_by_role("link", name=f"Juryn {YEAR}").click()
    page.get_by_role("button", name="Tillkännage nu").click()
    expect(page.get_by_role("region", name="Tillkännagivande")).to_contain_text(
        "Besluten tillkännagavs"
    )
    no_violations(page, axe_source)
    assert wait_until(lambda: bool(received(world.sink, "Grattis")), timeout=90), (
        tmp_path / "worker.log"
    ).read_text()[-3000:]
    time.sleep(3)  # a second copy would have had time to arrive
    [message] = received(world.sink, "Grattis")
    assert world.sink.duplicates() == {} and world.sink.defects == []
    assert str(message["Subject"]) == f"Grattis! Ungdomsjouren vinner Kvalitetsutmärkelsen {YEAR}"
    assert str(message["To"]) == CONTACT
    body = message.get_body(("plain",))
    assert body is not None
    words = " ".join(body.get_content().split())
    assert MOTIVATION in words and "i klassen socialtjänst" in words, words

    files = {
        str(part.get_filename()): (part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    }
    stem = f"Kvalitetsutmärkelsen {YEAR} - Ungdomsjouren"
    assert sorted(files) == [f"Diplom {stem}.pdf", f"Prisbrev {stem}.docx", f"Prisbrev {stem}.pdf"]
    diploma_type, diploma = files[f"Diplom {stem}.pdf"]
    assert diploma_type == "application/pdf" and isinstance(diploma, bytes)
    text = pdf_text(diploma)
    for words in (
        "DIPLOM", f"Stockholms stads kvalitetsutmärkelse {YEAR}", "Ungdomsjouren",
        "Socialförvaltningen", "i klassen socialtjänst", MOTIVATION,
    ):  # fmt: skip
        assert words in text, (words, text)
    for fmt, read in (("docx", docx_text), ("pdf", pdf_text)):
        _, letter = files[f"Prisbrev {stem}.{fmt}"]
        assert isinstance(letter, bytes)
        text = read(letter)
        for words in (
            f"Prisbrev – Stockholms stads kvalitetsutmärkelse {YEAR}",
            "Till Ungdomsjouren, Socialförvaltningen", "i klassen socialtjänst",
            "en prischeck på 50 000 kronor", f"den 25 november {YEAR}",
        ):  # fmt: skip
            assert words in text, (fmt, words, text)
    picture = tmp_path / "diplom-ur-e-posten.png"
    png = render_png(diploma, picture)
    print(f"\nThe diploma as the winner received it: {picture}")
    assert png.width > png.height  # A4 landscape
    band = png.crop((png.width // 4, png.height // 3, 3 * png.width // 4, 2 * png.height // 3))
    assert band.convert("L").getextrema()[0] < 80  # the unit's name is printed, not blank

    # Now the unit sees the outcome and its documents on the entry's page.
    log_in(page, world.server, CHEFEN)
    page.goto(f"{url}/entries/{entry_id}")
    expect(page.get_by_role("link", name="Diplom (PDF)")).to_be_visible()
    facts = page.locator('section[aria-labelledby="fakta"]')  # in Swedish, and polite
    expect(facts.locator('dt:text-is("Motivering") + dd')).to_have_text(MOTIVATION)
    expect(facts.locator('dt:text-is("Jurybeslut") + dd')).to_have_text("Vinnare i sin klass")
    shown = page.locator("main").inner_text()
    assert "motivation" not in shown and not re.search(r"\bdu\b", shown), shown
    no_violations(page, axe_source)


def received(sink: SmtpSink, subject: str) -> list[EmailMessage]:
    return [m for m in list(sink.messages) if str(m["Subject"]).startswith(subject)]


def outcome_messages(engine: Engine) -> int:
    with transaction(engine) as session:
        rows = session.exec(select(OutboxMessage.id).where(OutboxMessage.kind == "jury_outcome"))
        return len(rows.all())
