"""The web pages as people use them: a real uvicorn server, real databases, real chromium.

Browser tests click through the pages; the refusals (CSRF, roles, rate limit, bad input) are
also driven with httpx and a logged-in session cookie, and then the database is read to
show that nothing changed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, text
from sqlmodel import select

from tests.conftest import MINIMAL_PDF, attach_extract, seed_entry
from tests.e2e.browser import (
    PHONE,
    axe_violations,
    describe_violations,
)
from tests.e2e.conftest import LiveServer
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import (
    Document,
    Entry,
    ExaminerAssignment,
    HistoryEvent,
    OutboxMessage,
    Unit,
    User,
)
from workflow.queries import entries as entry_queries

ADMIN = ("anna", "kansliet-lösen-1")
COORDINATOR = ("sam", "samordnare-lösen-1")
OTHER_COORDINATOR = ("uno", "utbildning-lösen-1")
LATER = datetime(2024, 4, 20, 9, 0, tzinfo=UTC)
TWENTY_MB = 20 * 1024 * 1024


@dataclass
class World:
    """Two organisations with one notified entry each, an admin and a coordinator each."""

    server: LiveServer
    engine: Engine
    social_entry: int  # Ungdomsjouren, Socialförvaltningen
    school_entry: int  # Förskolan Solen, Utbildningsförvaltningen

    def version(self, entry_id: int) -> int:
        with transaction(self.engine) as session:
            return int(entry_queries.get_entry(session, entry_id).version)

    def stage(self, entry_id: int) -> str:
        with transaction(self.engine) as session:
            return str(entry_queries.get_entry(session, entry_id).stage)

    def history_length(self, entry_id: int) -> int:
        with transaction(self.engine) as session:
            rows = session.exec(select(HistoryEvent).where(HistoryEvent.entry_id == entry_id))
            return len(rows.all())

    def documents(self, entry_id: int) -> int:
        with transaction(self.engine) as session:
            rows = session.exec(select(Document.id).where(Document.entry_id == entry_id))
            return len(rows.all())

    def advance(self, entry_id: int, target: str, **data: str) -> None:
        with transaction(self.engine) as session:
            services.advance_entry(
                session,
                entry_id=entry_id,
                target=target,
                version=entry_queries.get_entry(session, entry_id).version,
                actor="kansliet",
                now=LATER,
                data=data,
            )


def build_world(server: LiveServer) -> Iterator[World]:
    engine = make_engine(server.env["DATABASE_URL"])
    social = seed_entry(engine)
    school = seed_entry(engine, name="Förskolan Solen", organisation="Utbildningsförvaltningen")
    assert social.id is not None and school.id is not None
    with transaction(engine) as session:
        social_org = session.get(Unit, social.unit_id).organisation_id  # type: ignore[union-attr]
        school_org = session.get(Unit, school.unit_id).organisation_id  # type: ignore[union-attr]
        # In-process rather than `server.user` (the CLI): the same service, a second faster.
        for (name, password), role, org in (
            (ADMIN, "admin", None),
            (COORDINATOR, "coordinator", social_org),
            (OTHER_COORDINATOR, "coordinator", school_org),
        ):
            services.create_user(
                session, name=name, role=role, organisation_id=org, password=password, now=LATER
            )
    yield World(server, engine, social.id, school.id)
    engine.dispose()


@pytest.fixture
def world(server: LiveServer) -> Iterator[World]:
    """On a SQLite file and on PostgreSQL."""
    yield from build_world(server)


@pytest.fixture
def sqlite_world(sqlite_server: LiveServer) -> Iterator[World]:
    yield from build_world(sqlite_server)


# --- helpers -------------------------------------------------------------------------------


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@contextmanager
def logged_in(server: LiveServer, who: tuple[str, str]) -> Iterator[httpx.Client]:
    """An httpx client holding a session cookie, logged in through the login form."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        form = client.get("/login")
        response = client.post(
            "/login", data={"name": who[0], "password": who[1], "csrf_token": csrf_of(form.text)}
        )
        assert response.status_code == 303, response.text
        yield client


def board_decision(csrf: str | None, version: int, **overrides: str) -> dict[str, str]:
    form = {
        "to": "board_decision",
        "version": str(version),
        "data_decision": "approved",
        "data_meeting_date": "2024-04-18",
        "data_paragraph": "§ 12",
        "note": "",
    }
    if csrf is not None:
        form["csrf_token"] = csrf
    return {**form, **overrides}


def log_in(page: Page, server: LiveServer, who: tuple[str, str]) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Användarnamn").fill(who[0])
    page.get_by_label("Lösenord").fill(who[1])
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Översikt")


def to_feedback(world: World, entry_id: int) -> None:
    """Move an entry through the city-run stages up to `feedback` (what the jury decides on)."""
    world.advance(
        entry_id, "board_decision", decision="approved", meeting_date="2024-04-18", paragraph="§ 12"
    )
    attach_extract(world.engine, entry_id)
    world.advance(entry_id, "extract_sent")
    world.advance(entry_id, "submitted", submitted_on="2024-05-10")
    world.advance(entry_id, "examined", site_visit_on="2024-09-03")
    world.advance(entry_id, "feedback", strengths="Tydliga mål.", development_areas="Uppföljning.")


# --- the browser ---------------------------------------------------------------------------


def test_admin_records_board_decision_and_extract_by_clicking_and_sees_timeline_and_outbox(
    world: World, page: Page, tmp_path: Path
) -> None:
    """Log in, open an entry, fill the board decision form and click: the stage changes, the
    timeline gains the row; upload the extract and send it; the outbox shows the e-mails."""
    log_in(page, world.server, ADMIN)
    page.get_by_role("link", name="Ungdomsjouren").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ungdomsjouren")
    expect(page.locator(".lead .badge")).to_have_text("Anmäld")

    form = page.get_by_role("region", name="Nämndbeslut")
    form.get_by_label("Nämndens beslut").select_option("approved")
    form.get_by_label("Sammanträdesdatum").fill("2024-04-18")
    form.get_by_label("Paragraf i protokollet").fill("§ 12")
    form.get_by_label("Anteckning i historiken").fill("Socialnämnden godkände deltagandet.")
    form.get_by_role("button", name="Registrera nämndbeslut").click()

    expect(page.get_by_role("status")).to_have_text("Ändringen är sparad.")
    expect(page.locator(".lead .badge")).to_have_text("Nämndbeslut")
    latest = page.locator("#tidslinje li").last
    expect(latest).to_contain_text("Nämndbeslut")
    expect(latest).to_contain_text("från Anmäld")
    expect(latest).to_contain_text(ADMIN[0])
    expect(latest).to_contain_text("§ 12")
    expect(latest).to_contain_text("Socialnämnden godkände deltagandet.")
    assert world.stage(world.social_entry) == "board_decision"

    extract = tmp_path / "protokollsutdrag.pdf"
    extract.write_bytes(MINIMAL_PDF)
    page.get_by_label(re.compile(r"^Protokollsutdrag \(PDF")).set_input_files(extract)
    page.get_by_role("button", name="Ladda upp protokollsutdraget").click()
    expect(page.get_by_role("status")).to_have_text("Filen är uppladdad.")
    expect(page.get_by_role("link", name="protokollsutdrag.pdf")).to_be_visible()
    page.get_by_role("button", name="Registrera att protokollsutdraget är skickat").click()
    expect(page.locator(".lead .badge")).to_have_text("Protokollsutdrag skickat")

    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Utskick").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Utskick")
    messages = page.locator(".message")
    expect(messages.filter(has_text="Beslutet är registrerat")).to_have_count(1)
    expect(messages.filter(has_text="Protokollsutdrag: Ungdomsjouren")).to_contain_text("I kö")
    expect(messages.filter(has_text="kvalitetsutmarkelsen@stockholm.se")).to_have_count(1)


def test_admin_books_a_site_visit_with_its_hours_and_wrong_hours_are_explained(
    sqlite_world: World, page: Page
) -> None:
    world = sqlite_world
    entry_id = world.social_entry
    world.advance(
        entry_id, "board_decision", decision="approved", meeting_date="2024-04-18", paragraph="§ 12"
    )
    attach_extract(world.engine, entry_id)
    world.advance(entry_id, "extract_sent")
    world.advance(entry_id, "submitted", submitted_on="2024-05-10")
    version = world.version(entry_id)
    log_in(page, world.server, ADMIN)
    page.goto(f"{world.server.url}/entries/{entry_id}")
    page.get_by_label("Dag för platsbesöket").fill("2024-09-03")
    page.get_by_label("Börjar").fill("15:00")
    page.get_by_label("Slutar").fill("13:00")
    visit_note = page.locator("#site-visit").get_by_label("Anteckning i historiken")
    visit_note.fill("Intervju med chef och två medarbetare")
    page.get_by_role("button", name="Boka platsbesök").click()
    expect(page.locator("#site-visit-errors")).to_contain_text("måste sluta efter att det börjar")
    assert world.version(entry_id) == version  # nothing booked
    # What was typed is still there to correct, the note too.
    expect(visit_note).to_have_value("Intervju med chef och två medarbetare")
    visit_note.fill("")

    page.get_by_label("Dag för platsbesöket").fill("2024-09-03")
    page.get_by_label("Börjar").fill("13:00")
    page.get_by_label("Slutar").fill("15:30")
    page.get_by_role("button", name="Boka platsbesök").click()
    expect(page.get_by_role("status")).to_have_text(
        "Platsbesöket är bokat och enheten får ett meddelande."
    )
    expect(page.locator("#tidslinje li").last).to_contain_text(
        "Platsbesök bokat 2024-09-03 kl. 13:00–15:30."
    )
    assert world.version(entry_id) == version + 1
    # The facts and the timeline name the booking in Swedish, not by its stored keys.
    facts = page.locator("section[aria-labelledby=fakta]")
    expect(facts.get_by_role("heading", name="Platsbesök")).to_be_visible()
    expect(facts).to_contain_text("Börjar")
    expect(facts).to_contain_text("Slutar")
    for key in ("site_visit", "starts_at", "ends_at"):
        expect(page.locator("main")).not_to_contain_text(key)


def send_board_decision_typed_on_a_stale_page(page: Page) -> int:
    """Fill in the board decision, with a note, and send it; the response's status."""
    form = page.get_by_role("region", name="Nämndbeslut")
    form.get_by_label("Nämndens beslut").select_option("noted")
    form.get_by_label("Sammanträdesdatum").fill("2024-04-18")
    form.get_by_label("Paragraf i protokollet").fill("§ 7")
    form.get_by_label("Anteckning i historiken").fill("Beslutet togs i enighet.")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        form.get_by_role("button", name="Registrera nämndbeslut").click()
    return posted.value.status


def test_stale_version_shows_a_swedish_conflict_message_with_a_reload_link(
    world: World, page: Page
) -> None:
    """Someone else withdrew the entry after the page was loaded: 409, nothing saved, the
    move is no longer possible; what was typed is there to copy, and a link reloads."""
    log_in(page, world.server, ADMIN)
    page.goto(f"{world.server.url}/entries/{world.social_entry}")
    with transaction(world.engine) as session:
        services.withdraw_entry(
            session, entry_id=world.social_entry, version=1, actor="någon", now=LATER, note="Byte."
        )

    assert send_board_decision_typed_on_a_stale_page(page) == 409
    expect(page.get_by_role("heading", level=1)).to_have_text("Posten har ändrats")
    expect(page.get_by_role("alert")).to_contain_text("ingenting sparades")
    expect(page.get_by_label("Anteckning i historiken")).to_have_value("Beslutet togs i enighet.")
    expect(page.get_by_label("Paragraf i protokollet")).to_have_value("§ 7")
    page.get_by_role("link", name="Läs in posten igen").click()
    expect(page.locator(".lead .badge")).to_have_text("Återkallad")
    assert world.history_length(world.social_entry) == 2


def test_a_change_by_someone_else_keeps_what_was_typed_in_the_form(
    world: World, page: Page
) -> None:
    """The unit handed in its contribution early while the coordinator filled in the board
    decision: 409, nothing saved, but the form is there again, filled in, on the entry as it
    is now (its timeline shows what happened); sending it again works."""
    log_in(page, world.server, ADMIN)
    page.goto(f"{world.server.url}/entries/{world.social_entry}")
    with transaction(world.engine) as session:
        services.advance_entry(
            session, entry_id=world.social_entry, target="submitted", version=1,
            actor="enheten", now=LATER, data={"title": "Ungdomsjourens bidrag"},
        )  # fmt: skip

    assert send_board_decision_typed_on_a_stale_page(page) == 409
    assert world.history_length(world.social_entry) == 2  # notified, the kept contribution
    form = page.get_by_role("region", name="Nämndbeslut")
    expect(form).to_contain_text("ingenting sparades")
    expect(form.get_by_label("Paragraf i protokollet")).to_have_value("§ 7")
    expect(form.get_by_label("Sammanträdesdatum")).to_have_value("2024-04-18")
    expect(form.get_by_label("Anteckning i historiken")).to_have_value("Beslutet togs i enighet.")
    expect(page.locator("#tidslinje")).to_contain_text("enheten")
    form.get_by_label("Nämndens beslut").select_option("noted")
    form.get_by_role("button", name="Registrera nämndbeslut").click()
    expect(page.get_by_role("status")).to_be_visible()
    assert world.stage(world.social_entry) == "board_decision"
    assert world.history_length(world.social_entry) == 3


def test_admin_resends_a_failed_message(sqlite_world: World, page: Page) -> None:
    """A failed e-mail shows on the dashboard and the outbox; 'Skicka igen' queues it again."""
    with sqlite_world.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outbox_message SET status = 'failed', last_error = :error "
                "WHERE id = (SELECT MIN(id) FROM outbox_message)"
            ),
            {"error": "550 5.1.1 Mottagaren finns inte"},
        )
    log_in(page, sqlite_world.server, ADMIN)
    failed = page.get_by_role("region", name="Misslyckade utskick")
    expect(failed).to_contain_text("550 5.1.1 Mottagaren finns inte")
    failed.get_by_role("link", name="Visa alla 1 misslyckade utskick").click()
    expect(page.locator(".message")).to_have_count(1)
    page.get_by_role("button", name="Skicka igen").click()
    expect(page.get_by_role("status")).to_contain_text("ligger i kön igen")
    expect(page.get_by_text("Inga utskick med status misslyckat.")).to_be_visible()
    page.get_by_role("link", name=re.compile(r"^I kö")).click()
    expect(page.locator(".message").first).to_contain_text("I kö")


def test_pages_have_no_serious_or_critical_accessibility_violations(
    sqlite_world: World, page: Page, axe_source: str
) -> None:
    """axe-core on the login, dashboard, entry, outbox and error pages, with forms open."""
    url = sqlite_world.server.url
    page.goto(f"{url}/login")
    checked: dict[str, list[dict[str, object]]] = {"login": axe_violations(page, axe_source)}
    page.get_by_label("Användarnamn").fill(ADMIN[0])
    page.get_by_label("Lösenord").fill("fel-lösenord")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_have_text("Fel användarnamn eller lösenord.")
    checked["login with error"] = axe_violations(page, axe_source)
    log_in(page, sqlite_world.server, ADMIN)
    checked["dashboard"] = axe_violations(page, axe_source)
    page.goto(f"{url}/entries/{sqlite_world.social_entry}")
    page.locator("details.withdraw summary").click()
    checked["entry"] = axe_violations(page, axe_source)
    to_feedback(sqlite_world, sqlite_world.school_entry)
    page.goto(f"{url}/entries/{sqlite_world.school_entry}")
    checked["entry at feedback"] = axe_violations(page, axe_source)
    page.goto(f"{url}/outbox")
    checked["outbox"] = axe_violations(page, axe_source)
    page.goto(f"{url}/entries")
    checked["entry list"] = axe_violations(page, axe_source)
    page.goto(f"{url}/entries/999999")
    checked["not found"] = axe_violations(page, axe_source)
    problems = {name: describe_violations(v) for name, v in checked.items() if v}
    assert not problems, problems


def test_dashboard_and_entry_page_fit_a_phone(
    sqlite_world: World, browser: Browser, tmp_path: Path
) -> None:
    """At 390 px nothing is wider than the screen; screenshots are kept for a person to see."""
    context = browser.new_context(viewport=PHONE, locale="sv-SE", device_scale_factor=2)
    phone = context.new_page()
    try:
        log_in(phone, sqlite_world.server, ADMIN)
        for name, path in (
            ("dashboard", "/"),
            ("entry", f"/entries/{sqlite_world.social_entry}"),
            ("outbox", "/outbox"),
            ("entry list", "/entries"),
        ):
            phone.goto(f"{sqlite_world.server.url}{path}")
            width = phone.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{name} is {width}px wide on a phone"
            phone.screenshot(path=tmp_path / f"{name}-390.png", full_page=True)
            assert (tmp_path / f"{name}-390.png").stat().st_size > 0
    finally:
        context.close()


def test_admin_pages_through_all_entries_and_filters_by_stage(
    sqlite_world: World, page: Page
) -> None:
    """107 entries: the dashboard shows the first 50 and links to the list; the list shows
    100 a page, 'Nästa sida' the remaining 7; the stage filter narrows it to one stage."""
    for number in range(105):
        seed_entry(sqlite_world.engine, name=f"Enhet {number:03d}")
    with transaction(sqlite_world.engine) as session:
        services.withdraw_entry(
            session,
            entry_id=sqlite_world.school_entry,
            version=1,
            actor="kansliet",
            now=LATER,
            note="Förskolan slutar delta.",
        )
    log_in(page, sqlite_world.server, ADMIN)
    rows = page.locator("ul.entries li")
    expect(rows).to_have_count(50)
    expect(page.locator(".figure").first).to_contain_text("107")
    page.get_by_role("link", name="Visa alla 107 poster").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Poster 2024")
    expect(rows).to_have_count(100)
    expect(rows.first).to_contain_text("Ungdomsjouren")
    page.get_by_role("link", name="Nästa sida").click()
    expect(rows).to_have_count(7)
    expect(rows.last).to_contain_text("Enhet 104")
    expect(page.get_by_role("link", name="Nästa sida")).to_have_count(0)
    page.get_by_role("link", name="Första sidan").click()
    expect(rows).to_have_count(100)
    page.get_by_label("Steg").select_option(label="Återkallad")
    page.get_by_role("button", name="Visa").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Förskolan Solen")


def test_entry_list_refuses_odd_filters_and_shows_a_coordinator_only_their_own(
    world: World,
) -> None:
    with logged_in(world.server, COORDINATOR) as client:
        mine = client.get("/entries")
        assert mine.status_code == 200
        assert "Ungdomsjouren" in mine.text and "Förskolan Solen" not in mine.text
        for query, reason in (
            ("stage=granskad", "Okänt steg"),
            ("year=2031", "ingen omgång"),
            ("after=-1", ""),
            ("year=tjugo", ""),
        ):
            response = client.get(f"/entries?{query}")
            assert 400 <= response.status_code < 500, query
            assert reason in response.text
            assert "Traceback" not in response.text
            # An address is not a form: nothing was being saved.
            assert "Uppgifterna kunde inte sparas" not in response.text, query


# --- roles ---------------------------------------------------------------------------------


def test_coordinator_sees_only_entries_of_their_own_organisation(world: World) -> None:
    """Another organisation's entry is a 404, and the dashboard does not list it."""
    with logged_in(world.server, COORDINATOR) as client:
        other = client.get(f"/entries/{world.school_entry}")
        assert other.status_code == 404
        assert "finns inte" in other.text
        assert "Förskolan Solen" not in other.text
        dashboard = client.get("/")
        assert "Ungdomsjouren" in dashboard.text
        assert "Förskolan Solen" not in dashboard.text
        assert client.get(f"/entries/{world.social_entry}").status_code == 200


def test_the_entry_page_says_whom_its_e_mails_cannot_reach(sqlite_world: World) -> None:
    """Without the unit's address, receipts, reminders, feedback and the jury's answer are
    not written at all; the entry page says so instead of staying silent."""
    with transaction(sqlite_world.engine) as session:
        unit_id = session.get(Entry, sqlite_world.social_entry).unit_id  # type: ignore[union-attr]
        unit = session.get(Unit, unit_id)
        assert unit is not None
        unit.contact_email = None
        session.add(unit)
    with logged_in(sqlite_world.server, ADMIN) as client:
        without = client.get(f"/entries/{sqlite_world.social_entry}").text
        with_address = client.get(f"/entries/{sqlite_world.school_entry}").text
    assert "Ungdomsjouren saknar e-postadress" in without
    assert "saknar e-postadress" not in with_address


def test_admin_dashboard_shows_how_the_outbox_keeps_up_and_a_coordinator_does_not(
    sqlite_world: World,
) -> None:
    """No worker runs here, so the receipts and agenda requests the seeding caused (in 2024)
    still wait."""
    with transaction(sqlite_world.engine) as session:
        queued = session.exec(
            select(OutboxMessage.id).where(OutboxMessage.status == "queued")
        ).all()
    assert queued
    with logged_in(sqlite_world.server, ADMIN) as client:
        figures = re.sub(r"\s+", " ", client.get("/").text)
        assert re.search(
            rf'{len(queued)}</span> <span class="figure__label">utskick i kö, det äldsta har '
            r"väntat \d+ (sekunder|minuter|timmar|dagar|veckor|månader|år)<",
            figures,
        ), figures
    with logged_in(sqlite_world.server, COORDINATOR) as client:
        assert "utskick i kö" not in client.get("/").text


def test_coordinator_gets_no_jury_form_and_a_forced_jury_post_is_refused(world: World) -> None:
    """At `feedback` nobody gets a jury form on the entry (the chair decides per class and
    the decision waits for the announcement); posting it anyway is refused with the reason,
    and the entry is unchanged."""
    to_feedback(world, world.social_entry)
    with logged_in(world.server, ADMIN) as admin:
        assert "Registrera jurybeslut" not in admin.get(f"/entries/{world.social_entry}").text
    with logged_in(world.server, COORDINATOR) as client:
        page = client.get(f"/entries/{world.social_entry}")
        assert page.status_code == 200
        assert "Registrera jurybeslut" not in page.text
        assert "Återkalla deltagandet" in page.text  # a coordinator may withdraw
        version = world.version(world.social_entry)
        refused = client.post(
            f"/entries/{world.social_entry}/transition",
            data={
                "csrf_token": csrf_of(page.text),
                "to": "jury",
                "version": str(version),
                "data_outcome": "winner",
            },
        )
    assert refused.status_code == 403
    assert "får inte flytta posten" in refused.text
    assert world.version(world.social_entry) == version
    assert world.stage(world.social_entry) == "feedback"


def test_admin_assigns_an_examiner_on_the_entry_page_and_jav_is_refused(world: World) -> None:
    """The admin picks an examiner on the entry page; one from the entry's own administration
    is refused with the reason and nothing is assigned; the assigned one is listed, sees the
    entry, and a coordinator cannot assign at all."""
    with transaction(world.engine) as session:
        social_org = session.get(Unit, session.get(Entry, world.social_entry).unit_id)  # type: ignore[union-attr]
        school_org = session.get(Unit, session.get(Entry, world.school_entry).unit_id)  # type: ignore[union-attr]
        assert social_org is not None and school_org is not None
        for name, org in (("eva", school_org.organisation_id), ("jon", social_org.organisation_id)):
            services.create_user(
                session, name=name, role="examiner", organisation_id=org,
                password="examinator-1", now=LATER,
            )  # fmt: skip
        ids = {u.name: u.id for u in session.exec(select(User).where(User.role == "examiner"))}
    url = f"/entries/{world.social_entry}"
    with logged_in(world.server, ("eva", "examinator-1")) as eva:
        assert eva.get(url).status_code == 404  # not assigned yet
    with logged_in(world.server, ADMIN) as admin:
        page = admin.get(url)
        assert "Ingen examinator är tilldelad ännu." in page.text
        refused = admin.post(
            f"{url}/examiners", data={"csrf_token": csrf_of(page.text), "user_id": str(ids["jon"])}
        )
        assert refused.status_code == 409
        assert "(jäv)" in refused.text and 'id="examiner-errors"' in refused.text
        assigned = admin.post(
            f"{url}/examiners",
            data={"csrf_token": csrf_of(page.text), "user_id": str(ids["eva"])},
            follow_redirects=True,
        )
        assert "Examinatorn är tilldelad posten" in assigned.text
        listed = assigned.text.split('id="examinatorer"')[1].split("</section>")[0]
        assigned_list = listed.split("<form")[0].split("<details")[0]
        assert "eva (Utbildningsförvaltningen)" in assigned_list and "jon" not in assigned_list
        # jon is not offered, and the page says why (jäv)
        assert "jon (Socialförvaltningen): " in listed and "(jäv)" in listed
    with logged_in(world.server, ("eva", "examinator-1")) as eva:
        assert eva.get(url).status_code == 200
    with logged_in(world.server, COORDINATOR) as coordinator:
        page = coordinator.get(url)
        assert "Tilldela examinator" not in page.text
        forced = coordinator.post(
            f"{url}/examiners", data={"csrf_token": csrf_of(page.text), "user_id": str(ids["jon"])}
        )
        assert forced.status_code == 403
    with transaction(world.engine) as session:
        pairs = session.exec(select(ExaminerAssignment.user_id)).all()
    assert pairs == [ids["eva"]]


def test_the_extract_form_says_before_the_click_that_the_pdf_comes_first(world: World) -> None:
    entry_id = world.social_entry
    world.advance(
        entry_id, "board_decision", decision="approved", meeting_date="2024-04-18", paragraph="§ 12"
    )
    hint = "Ladda först upp protokollsutdraget som PDF"
    with logged_in(world.server, ADMIN) as admin:
        assert hint in admin.get(f"/entries/{entry_id}").text
        attach_extract(world.engine, entry_id)
        assert hint not in admin.get(f"/entries/{entry_id}").text


# --- CSRF, login ---------------------------------------------------------------------------


def test_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    world: World,
) -> None:
    """No token, a wrong token and a cross-site Origin: 403 each, and the entry is untouched."""
    url = f"/entries/{world.social_entry}/transition"
    with logged_in(world.server, ADMIN) as client:
        token = csrf_of(client.get(f"/entries/{world.social_entry}").text)
        missing = client.post(url, data=board_decision(None, 1))
        wrong = client.post(url, data=board_decision("x" * 43, 1))
        cross_site = client.post(
            url, data=board_decision(token, 1), headers={"Origin": "https://elak.example"}
        )
        logout = client.post("/logout", data={})
        still_in = client.get("/")
    for response in (missing, wrong, cross_site, logout):
        assert response.status_code == 403, response.text
    assert "säkerhetstoken" in missing.text
    assert "annan webbplats" in cross_site.text
    assert still_in.status_code == 200  # the refused logout did not end the session
    assert world.version(world.social_entry) == 1
    assert world.history_length(world.social_entry) == 1


def test_login_form_needs_its_pre_session_token(sqlite_world: World) -> None:
    """A login POST without the token the form and its cookie carry is refused."""
    with httpx.Client(base_url=sqlite_world.server.url, timeout=30) as client:
        response = client.post("/login", data={"name": ADMIN[0], "password": ADMIN[1]})
        assert response.status_code == 403
        assert "kv_session" not in response.headers.get("set-cookie", "")
        assert client.get("/").status_code == 303


def test_login_after_failures_waits_a_moment_and_is_then_let_in(world: World) -> None:
    """Three wrong passwords, then the right one at once: 429 with a Swedish message and how
    long to wait; after that wait the right password logs in (no lockout)."""
    with httpx.Client(base_url=world.server.url, timeout=30) as client:
        for _ in range(3):
            token = csrf_of(client.get("/login").text)
            failed = client.post(
                "/login", data={"name": ADMIN[0], "password": "gissning-123", "csrf_token": token}
            )
            assert failed.status_code == 401
            assert "Fel användarnamn eller lösenord." in failed.text
        token = csrf_of(client.get("/login").text)
        right = {"name": ADMIN[0], "password": ADMIN[1], "csrf_token": token}
        blocked = client.post("/login", data=right)
        assert blocked.status_code == 429
        assert "För många misslyckade inloggningar" in blocked.text
        wait = int(blocked.headers["retry-after"])
        assert 1 <= wait <= 2
        time.sleep(wait)
        token = csrf_of(client.get("/login").text)
        let_in = client.post("/login", data={**right, "csrf_token": token})
        assert let_in.status_code == 303, let_in.text


def test_session_cookie_is_httponly_samesite_and_logout_ends_it(sqlite_world: World) -> None:
    with httpx.Client(base_url=sqlite_world.server.url, timeout=30) as client:
        token = csrf_of(client.get("/login").text)
        response = client.post(
            "/login",
            data={"name": ADMIN[0], "password": ADMIN[1], "csrf_token": token, "next": "/outbox"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/outbox"
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("kv_session=")
        )
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Path=/" in cookie
        page = client.get("/outbox")
        assert page.status_code == 200
        out = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        client.cookies.set("kv_session", cookie.split(";")[0].split("=", 1)[1])
        assert client.get("/").status_code == 303  # the old session id is dead


def test_login_redirects_only_to_paths_on_this_site(sqlite_world: World) -> None:
    with httpx.Client(base_url=sqlite_world.server.url, timeout=30) as client:
        token = csrf_of(client.get("/login").text)
        response = client.post(
            "/login",
            data={
                "name": ADMIN[0],
                "password": ADMIN[1],
                "csrf_token": token,
                "next": "//elak.example/",
            },
        )
    assert response.headers["location"] == "/"


# --- bad input -----------------------------------------------------------------------------


def test_invalid_stage_data_is_shown_next_to_the_form_and_changes_nothing(world: World) -> None:
    """422: each reason beside its field, the typed values kept, the entry unchanged."""
    with logged_in(world.server, ADMIN) as client:
        token = csrf_of(client.get(f"/entries/{world.social_entry}").text)
        response = client.post(
            f"/entries/{world.social_entry}/transition",
            data=board_decision(token, 1, data_paragraph="", data_meeting_date="18 april"),
        )
    assert response.status_code == 422
    html = response.text
    assert 'id="board_decision-paragraph-error"' in html
    assert 'id="board_decision-meeting_date-error"' in html
    assert "Ange ett datum som ÅÅÅÅ-MM-DD." in html
    assert 'value="18 april"' in html
    assert 'aria-invalid="true"' in html
    assert world.version(world.social_entry) == 1


def test_a_refused_transition_is_shown_on_the_entry_page(sqlite_world: World) -> None:
    """The table refuses `jury` from `notified`: 422 with the domain's Swedish reason."""
    with logged_in(sqlite_world.server, ADMIN) as client:
        token = csrf_of(client.get(f"/entries/{sqlite_world.social_entry}").text)
        response = client.post(
            f"/entries/{sqlite_world.social_entry}/transition",
            data={"csrf_token": token, "to": "jury", "version": "1", "data_outcome": "winner"},
        )
    assert response.status_code == 422
    assert "inte tillåten" in response.text
    assert sqlite_world.version(sqlite_world.social_entry) == 1


def test_extract_must_be_a_pdf_and_at_most_20_mb(world: World) -> None:
    """Not a PDF: 422; one byte over 20 MB: 413; neither is stored."""
    url = f"/entries/{world.social_entry}/documents"
    with logged_in(world.server, ADMIN) as client:
        token = csrf_of(client.get(f"/entries/{world.social_entry}").text)
        form = {"csrf_token": token, "kind": "extract"}
        not_pdf = client.post(url, data=form, files={"file": ("utdrag.pdf", b"hej", "text/plain")})
        too_big = client.post(
            url,
            data=form,
            files={
                "file": ("stor.pdf", MINIMAL_PDF.ljust(20 * 1024 * 1024 + 1), "application/pdf")
            },
        )
        fine = client.post(
            url, data=form, files={"file": ("ok.pdf", MINIMAL_PDF, "application/pdf")}
        )
    assert not_pdf.status_code == 422
    assert "Protokollsutdraget måste vara en PDF-fil." in not_pdf.text
    assert too_big.status_code == 413
    assert "större än 20 MB" in too_big.text
    assert fine.status_code == 303
    assert world.documents(world.social_entry) == 1


def test_api_errors_stay_json_while_pages_get_html(sqlite_world: World) -> None:
    with httpx.Client(base_url=sqlite_world.server.url, timeout=30) as client:
        api = client.get("/api/v1/entries/1")
        page = client.get("/no/such/page")
    assert api.status_code == 401
    assert api.json()["reasons"][0]["code"] == "unauthenticated"
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert 'lang="sv"' in page.text


def test_odd_input_gets_a_page_never_a_500(world: World) -> None:
    """Huge ids, NUL characters, a version that is no number, a year that is no year."""
    with logged_in(world.server, ADMIN) as client:
        token = csrf_of(client.get(f"/entries/{world.social_entry}").text)
        huge = client.get("/entries/99999999999999999999")
        nul = client.post(
            f"/entries/{world.social_entry}/transition",
            data=board_decision(token, 1, note="A\x00B", data_paragraph="§\x00 1"),
        )
        no_version = client.post(
            f"/entries/{world.social_entry}/transition",
            data={**board_decision(token, 1), "version": "9" * 30},
        )
        no_year = client.get("/?year=tjugotjugofyra")
        retry_sent = client.post("/outbox/99999999999/retry", data={"csrf_token": token})
    assert huge.status_code == 404
    assert nul.status_code == 303  # stored without the NUL
    assert no_version.status_code == 422
    assert "saknar postens version" in no_version.text
    assert no_year.status_code == 400  # a bad address, not data that could not be saved
    assert retry_sent.status_code == 404
    assert world.stage(world.social_entry) == "board_decision"
