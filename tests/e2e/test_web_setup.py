"""The award office starts its year in the browser: a cycle, an organisation, a unit, a user,
a CSV import with a preview, a registration; the coordinator corrects a unit; a new user
chooses a password from the e-mailed link. Real uvicorn, real SQLite, Debian's chromium, and
axe-core on every new page (0 serious or critical violations)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import col, select

from tests.e2e.browser import (
    axe_violations,
    describe_violations,
)
from tests.e2e.conftest import LiveServer
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import AuditEvent, Entry, OutboxMessage, Unit

ADMIN = ("anna", "kansliet-lösen-1")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(sqlite_server: LiveServer) -> Iterator[Engine]:
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    with transaction(engine) as session:
        services.create_user(session, name=ADMIN[0], role="admin", password=ADMIN[1], now=NOW)
    yield engine
    engine.dispose()


def clean(page: Page, axe_source: str) -> None:
    violations = axe_violations(page, axe_source)
    assert not violations, f"{page.url}\n{describe_violations(violations)}"


def log_in(page: Page, server: LiveServer, name: str, password: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Användarnamn").fill(name)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Översikt")


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Logga ut").click()


def field_error(page: Page, name: str) -> str:
    return page.locator(f"#{name}-error").inner_text()


def test_the_award_office_sets_up_its_year_in_the_browser(
    sqlite_server: LiveServer,
    engine: Engine,
    page: Page,
    axe_source: str,
    tmp_path: Path,
) -> None:
    """Cycle, organisation, unit, user, CSV import and registration, each a form; every
    refusal beside its field; the coordinator's correction in the unit's history."""
    server = sqlite_server
    log_in(page, server, *ADMIN)
    page.get_by_role("link", name="Inställningar").click()

    # A cycle: a bad date first, then the real one (budget in balance to take part).
    expect(page.get_by_role("heading", level=1)).to_have_text("Omgångar")
    clean(page, axe_source)
    page.get_by_label("År").fill("2027")
    page.get_by_label("Sista dag för skriftligt bidrag").fill("2027-07-17")
    page.get_by_label("Sista dag för protokollsutdrag").fill("2027-06-28")
    page.get_by_label("Vinnarna utses").fill("2027-11-26")
    page.get_by_label("Budget i balans krävs för att delta").check()
    page.get_by_role("button", name="Skapa omgången").click()
    assert "efter sista dag för protokollsutdraget" in field_error(page, "contribution_deadline")
    clean(page, axe_source)
    page.get_by_label("Sista dag för skriftligt bidrag").fill("2027-05-17")
    page.get_by_role("button", name="Skapa omgången").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Omgång 2027")
    expect(page.get_by_role("status")).to_have_text("Uppgifterna är sparade.")
    expect(page.get_by_label("Budget i balans krävs för att delta")).to_be_checked()
    clean(page, axe_source)

    # An organisation, and a unit that is too small.
    page.get_by_role("link", name="Organisationer").click()
    clean(page, axe_source)
    page.get_by_label("Namn", exact=True).fill("Bromma stadsdelsförvaltning")
    page.get_by_label("Nämnd eller styrelse").fill("Bromma stadsdelsnämnd")
    page.get_by_label("Samordnarens e-post").fill("samordnare@bromma.example.se")
    page.get_by_role("button", name="Skapa organisationen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bromma stadsdelsförvaltning")
    clean(page, axe_source)
    organisation_id = page.url.rsplit("/", 1)[1].split("?")[0]

    page.get_by_role("link", name="Enheter", exact=True).first.click()
    clean(page, axe_source)
    page.get_by_label("Enhetens namn").fill("Förskolan Ekorren")
    page.get_by_label("Organisation", exact=True).select_option(organisation_id)
    page.get_by_label("Antal medarbetare inklusive chef").fill("3")
    page.get_by_label("Budget i balans").uncheck()
    page.get_by_role("button", name="Skapa enheten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Förskolan Ekorren")
    expect(page.locator(".timeline")).to_contain_text("Skapad")
    clean(page, axe_source)
    unit_id = int(page.url.rsplit("/", 1)[1].split("?")[0])

    # Registering it: each failed rule beside its fact; nothing is registered.
    page.get_by_role("link", name="Anmäl enheten till en omgång").click()
    clean(page, axe_source)
    page.get_by_label("Klass").select_option("forskola")
    page.get_by_role("button", name="Anmäl enheten").click()
    assert "minst 5" in page.locator("#fact-staff_count").inner_text()
    assert "krävs det för att delta" in page.locator("#fact-budget_in_balance").inner_text()
    assert "kontaktadress" in field_error(page, "confirm_no_contact")
    clean(page, axe_source)
    with transaction(engine) as session:
        assert session.exec(select(Entry)).first() is None

    # A coordinator for the organisation; the link goes by e-mail (the outbox holds it).
    page.goto(f"{server.url}/admin/users")
    clean(page, axe_source)
    page.get_by_label("Användarnamn").fill("sam")
    page.get_by_label("Roll").select_option("coordinator")
    page.get_by_label("Organisation").select_option(organisation_id)
    page.get_by_label("E-post").fill("sam@bromma.example.se")
    page.get_by_role("button", name="Skapa användaren").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("sam")
    expect(page.get_by_role("status")).to_contain_text("länk")
    assert "lösen" not in page.locator("main").inner_text().lower().replace("lösenord", "")
    clean(page, axe_source)

    # A CSV import: the preview names the bad row; the fixed file is stored whole.
    header = (
        "name;organisation;staff_count;manager_has_budget_and_staff_responsibility;"
        "has_business_plan;share_stockholm_residents;budget_in_balance;privately_run"
    )
    good = "Förskolan Solen;Bromma stadsdelsförvaltning;9;ja;ja;0,95;ja;nej"
    bad = "Hemtjänsten;Bromma stadsdelsförvaltning;många;ja;ja;0,95;ja;nej"
    csv_file = tmp_path / "enheter.csv"
    csv_file.write_text(f"{header}\n{good}\n{bad}\n", encoding="utf-8")
    page.goto(f"{server.url}/admin/units/import")
    clean(page, axe_source)
    page.get_by_label("CSV-fil").set_input_files(str(csv_file))
    page.get_by_role("button", name="Förhandsvisa").click()
    expect(page.locator("#import-errors")).to_contain_text("Rad 3: 'många' i staff_count")
    expect(page.get_by_role("row", name=re.compile("Förskolan Solen"))).to_be_visible()
    expect(page.get_by_role("button", name="Skapa enheterna")).to_have_count(0)
    clean(page, axe_source)
    csv_file.write_text(f"{header}\n{good}\n", encoding="utf-8")
    page.get_by_label("CSV-fil").set_input_files(str(csv_file))
    page.get_by_role("button", name="Förhandsvisa").click()
    page.get_by_role("button", name="Skapa enheterna").click()
    expect(page.get_by_role("status")).to_have_text("Enheterna är inlästa.")
    with transaction(engine) as session:
        assert session.exec(select(Unit).where(Unit.name == "Förskolan Solen")).one()
    log_out(page)

    # The coordinator chooses a password from the e-mailed link and logs in.
    with transaction(engine) as session:
        message = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "password_link")
        ).one()
        assert message.recipient == "sam@bromma.example.se"
        link = str(message.payload["link"])
    path = link[link.index("/password/") :]
    page.goto(f"{server.url}{path}")
    clean(page, axe_source)
    page.get_by_label("Nytt lösenord").fill("kort")
    page.get_by_label("Upprepa lösenordet").fill("kort")
    page.locator("form").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Spara lösenordet och logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("minst 10 tecken")
    clean(page, axe_source)
    page.get_by_label("Nytt lösenord").fill("samordnare-lösen-1")
    page.get_by_label("Upprepa lösenordet").fill("samordnare-lösen-1")
    page.get_by_role("button", name="Spara lösenordet och logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Översikt")
    expect(page.locator(".who__name")).to_contain_text("sam")

    # … corrects the unit's facts and contact, with why; the history shows old → new.
    page.get_by_role("link", name="Enheter").click()
    page.get_by_role("link", name="Förskolan Ekorren", exact=True).click()
    page.get_by_label("Antal medarbetare inklusive chef").fill("8")
    page.get_by_label("Budget i balans").check()
    page.get_by_label("Kontaktens e-post (chefen)").fill("chef@ekorren.example.se")
    # The browser asks for the why itself; without its check, the server refuses too.
    page.locator(f"form[action='/admin/units/{unit_id}']").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Spara rättelsen").click()
    assert "varför" in field_error(page, "note").lower()
    page.get_by_label("Varför ändras uppgifterna?").fill("Uppgifterna från chefen i mars")
    page.get_by_role("button", name="Spara rättelsen").click()
    expect(page.get_by_role("status")).to_have_text("Ändringen är sparad.")
    history = page.locator(".timeline").inner_text()
    assert "Kontaktens e-post: – → chef@ekorren.example.se" in history
    assert "Antal medarbetare: 3 → 8" in history
    assert "Uppgifterna från chefen i mars" in history and "av sam" in history
    clean(page, axe_source)
    with transaction(engine) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.subject == "unit").order_by(col(AuditEvent.id))
        ).all()[-1]
        assert event.changes["contact_email"] == [None, "chef@ekorren.example.se"]

    # … and registers it now that it qualifies; the entry page opens.
    page.goto(f"{server.url}/admin/entries/new?unit={unit_id}&year=2027")
    page.get_by_label("Klass").select_option("forskola")
    page.get_by_role("button", name="Anmäl enheten").click()
    expect(page).to_have_url(re.compile(r"/entries/\d+"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Förskolan Ekorren")
    entry_url = page.url.split("?")[0].split("#")[0]
    log_out(page)

    # The admin gives the entry two more weeks for its contribution; the reminders follow.
    log_in(page, server, *ADMIN)
    page.goto(entry_url)
    expect(page.locator("#paminnelser")).to_contain_text("17 maj 2027")
    form = page.get_by_role("region", name="Ge förlängd tid")
    form.get_by_label("Tidsfrist").select_option("contribution")
    form.get_by_label("Ny sista dag").fill("2027-05-31")
    form.get_by_label("Skäl till förlängningen").fill("Enheten bytte chef i april.")
    form.get_by_role("button", name="Ge förlängd tid").click()
    expect(page.locator("#bekraftelse")).to_be_in_viewport()
    expect(page.locator("#nasta-steg")).to_contain_text("senast den 31 maj 2027")
    reminders = page.locator("#paminnelser")
    expect(reminders).to_contain_text("sista dag 31 maj 2027")
    expect(reminders).not_to_contain_text("sista dag 17 maj 2027")
    expect(page.locator("#tidslinje")).to_contain_text("Enheten bytte chef i april.")
    clean(page, axe_source)

    # … and starts next year from this one: the dates move off weekends, the unit is offered.
    page.goto(f"{server.url}/admin/cycles/2027/copy")
    clean(page, axe_source)
    expect(page.get_by_label("Den nya omgångens år")).to_have_value("2028")
    page.get_by_role("button", name="Skapa omgången").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Omgång 2028 är skapad")
    moved = page.get_by_role("region", name="Flyttade datum")
    expect(moved).to_contain_text("Vinnarna utses: 26 november 2027 blir 24 november 2028")
    expect(moved).to_contain_text("26 november 2028 är en söndag")
    expect(moved).not_to_contain_text("17 maj")  # a Wednesday in 2028: kept as it is
    offered = page.get_by_role("region", name="Enheter som kan anmälas igen")
    expect(offered.get_by_role("link", name="Anmäl Förskolan Ekorren till 2028")).to_be_visible()
    clean(page, axe_source)
    with transaction(engine) as session:
        entries = session.exec(select(Entry)).all()
    assert len(entries) == 1  # offered, not registered by itself


def test_a_deactivated_user_cannot_log_in_and_pages_tell_no_shell_commands(
    sqlite_server: LiveServer,
    engine: Engine,
    page: Page,
    axe_source: str,
) -> None:
    server = sqlite_server
    with transaction(engine) as session:
        services.create_user(session, name="jan", role="jury", password="jury-lösen-12", now=NOW)
    log_in(page, server, *ADMIN)
    assert "kvalitet " not in page.locator("main").inner_text()
    page.goto(f"{server.url}/admin/users")
    page.get_by_role("link", name="jan").click()
    page.get_by_role("button", name="Inaktivera jan").click()
    expect(page.get_by_role("status")).to_contain_text("inaktiverad")
    clean(page, axe_source)
    log_out(page)
    page.get_by_label("Användarnamn").fill("jan")
    page.get_by_label("Lösenord").fill("jury-lösen-12")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("Fel användarnamn eller lösenord")
