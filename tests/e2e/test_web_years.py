"""Next year from the web, each role's "Att göra" on the start page, and the API docs offline:
a real server on SQLite, Debian's chromium, axe-core on every page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Request, expect
from sqlalchemy import Engine, update
from sqlmodel import select

from tests.e2e.browser import (
    axe_violations,
    describe_violations,
)
from tests.e2e.conftest import LiveServer
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import Cycle, Entry

ADMIN = ("kansliet", "kansliet-lösen-1")
COORDINATOR = ("samordnaren", "samordnare-lösen-1")
NOW = datetime.now(UTC)


@dataclass
class World:
    server: LiveServer
    engine: Engine
    units: dict[str, int]


def unit_spec(org_id: int, name: str, email: str | None) -> services.UnitCreate:
    return services.UnitCreate(
        organisation_id=org_id,
        name=name,
        staff_count=12,
        manager_has_budget_and_staff_responsibility=True,
        has_business_plan=True,
        share_stockholm_residents=0.9,
        budget_in_balance=True,
        privately_run=False,
        contact_email=email,
    )


@pytest.fixture
def world(sqlite_server: LiveServer) -> Iterator[World]:
    """2025 (17 May a Saturday; in 2026 a Sunday) with Ungdomsjouren and LSS/SoL-hälsan;
    2027 with Ungdomsjouren (extract extended to 2 July) and Nattjouren, which no e-mail
    reaches (no contact address, and its organisation has no coordinator)."""
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    units: dict[str, int] = {}
    with transaction(engine) as session:
        services.create_cycle(
            session,
            year=2025,
            contribution_deadline=date(2025, 5, 17),
            extract_deadline=date(2025, 6, 19),
            winners_date=date(2025, 11, 25),
        )
        services.create_cycle(
            session,
            year=2027,
            contribution_deadline=date(2027, 5, 17),
            extract_deadline=date(2027, 6, 28),
            winners_date=date(2027, 11, 25),
        )
        social = services.create_organisation(
            session,
            name="Socialförvaltningen",
            kind="forvaltning",
            board="Socialnämnden",
            coordinator_email="samordnare@example.se",
        )
        quiet = services.create_organisation(
            session, name="Tysta förvaltningen", kind="forvaltning", board="Tysta nämnden"
        )
        for name, org, email in (
            ("Ungdomsjouren", social, "chef@example.se"),
            ("LSS/SoL-hälsan", social, "lss@example.se"),
            ("Nattjouren", quiet, None),
        ):
            units[name] = services.create_unit(session, unit_spec(org.id or 0, name, email)).id or 0
        for name, year in (
            ("Ungdomsjouren", 2025),
            ("LSS/SoL-hälsan", 2025),
            ("Ungdomsjouren", 2027),
            ("Nattjouren", 2027),
        ):
            services.create_entry(
                session,
                unit_id=units[name],
                year=year,
                award_class="socialtjanst",
                actor="test",
                now=NOW,
            )
        cycle_2027 = session.exec(select(Cycle.id).where(Cycle.year == 2027)).one()
        session.execute(
            update(Entry)
            .where(Entry.unit_id == units["Ungdomsjouren"], Entry.cycle_id == cycle_2027)
            .values(extract_until=date(2027, 7, 2))
        )
        for (name, password), role, org_id in (
            (ADMIN, "admin", None),
            (COORDINATOR, "coordinator", social.id),
        ):
            services.create_user(
                session, name=name, role=role, organisation_id=org_id, password=password, now=NOW
            )
    yield World(sqlite_server, engine, units)
    engine.dispose()


def log_in(page: Page, server: LiveServer, who: tuple[str, str]) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Användarnamn").fill(who[0])
    page.get_by_label("Lösenord").fill(who[1])
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Översikt")


def no_violations(page: Page, axe_source: str) -> None:
    violations = axe_violations(page, axe_source)
    assert not violations, describe_violations(violations)


def test_admin_copies_the_cycle_to_next_year_and_sees_moved_dates_and_offered_units(
    world: World, page: Page, axe_source: str
) -> None:
    """From the 2025 overview: the form proposes 2026; the result names the contribution
    deadline moved off Sunday 17 May and midsommarafton, and offers the two 2025 units, each
    with a link to the registration form."""
    log_in(page, world.server, ADMIN)
    page.goto(f"{world.server.url}/?year=2025")
    page.get_by_role("link", name="Skapa nästa års omgång från 2025").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nästa års omgång från 2025")
    no_violations(page, axe_source)
    year = page.get_by_label("Den nya omgångens år")
    expect(year).to_have_value("2026")
    page.get_by_role("button", name="Skapa omgången").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Omgång 2026 är skapad")
    moved = page.get_by_role("region", name="Flyttade datum")
    expect(moved).to_contain_text("Sista dag för skriftligt bidrag: 17 maj 2025 blir 15 maj 2026")
    expect(moved).to_contain_text("17 maj 2026 är en söndag")
    expect(moved).to_contain_text("Sista dag för protokollsutdrag: 19 juni 2025 blir 18 juni 2026")
    expect(moved).to_contain_text("midsommarafton")
    offered = page.get_by_role("region", name="Enheter som kan anmälas igen")
    link = offered.get_by_role("link", name="Anmäl Ungdomsjouren till 2026")
    expect(link).to_have_attribute(
        "href", f"/admin/entries/new?unit={world.units['Ungdomsjouren']}&year=2026"
    )
    expect(offered.get_by_role("link", name="Anmäl LSS/SoL-hälsan till 2026")).to_be_visible()
    expect(offered).not_to_contain_text("Nattjouren")
    no_violations(page, axe_source)
    with transaction(world.engine) as session:
        cycle = session.exec(select(Cycle).where(Cycle.year == 2026)).one()
        assert cycle.contribution_deadline == date(2026, 5, 15)
        assert session.exec(select(Entry).where(Entry.cycle_id == cycle.id)).all() == []


def test_a_year_taken_is_refused_beside_the_field_and_nothing_is_created(
    world: World, page: Page, axe_source: str
) -> None:
    log_in(page, world.server, ADMIN)
    page.goto(f"{world.server.url}/admin/cycles/2025/copy")
    page.get_by_label("Den nya omgångens år").fill("2027")
    page.get_by_role("button", name="Skapa omgången").click()
    expect(page.get_by_role("alert")).to_contain_text("Det finns redan en omgång för år 2027.")
    expect(page.get_by_label("Den nya omgångens år")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Den nya omgångens år")).to_have_value("2027")
    no_violations(page, axe_source)
    with transaction(world.engine) as session:
        years = session.exec(select(Cycle.year).order_by(Cycle.year)).all()
    assert years == [2025, 2027]


def test_a_coordinator_may_not_open_the_copy_form(world: World, page: Page) -> None:
    log_in(page, world.server, COORDINATOR)
    response = page.goto(f"{world.server.url}/admin/cycles/2025/copy")
    assert response is not None and response.status == 403
    expect(page.get_by_role("main")).to_contain_text("Bara utmärkelsens kansli")


def test_the_coordinators_att_gora_has_the_board_decision_with_the_extended_date(
    world: World, page: Page, axe_source: str
) -> None:
    """Ungdomsjouren's extract is due 2 July 2027 (extended from the cycle's 28 June): that is
    the date beside its board decision; Nattjouren (another organisation) is not listed."""
    log_in(page, world.server, COORDINATOR)
    todo = page.get_by_role("region", name="Att göra")
    expect(todo).to_contain_text("Nämndens beslut ska registreras: Ungdomsjouren")
    expect(todo).to_contain_text("senast den 2 juli 2027")
    expect(todo).not_to_contain_text("Nattjouren")
    todo.get_by_role("link", name="Registrera nämndbeslut (Ungdomsjouren)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ungdomsjouren")
    assert page.url.endswith("#transition-board_decision")
    page.goto(f"{world.server.url}/")
    no_violations(page, axe_source)


def test_the_admins_att_gora_names_the_unit_no_e_mail_reaches(
    world: World, page: Page, axe_source: str
) -> None:
    log_in(page, world.server, ADMIN)
    todo = page.get_by_role("region", name="Att göra")
    expect(todo).to_contain_text(
        "Enheten nås inte: varken kontaktadress eller samordnare: Nattjouren"
    )
    expect(todo.get_by_role("link", name="Ange kontaktadress (Nattjouren)")).to_have_attribute(
        "href", f"/admin/units/{world.units['Nattjouren']}"
    )
    # Its receipt and agenda request are kept until an address is set, not dropped.
    expect(todo).to_contain_text("Utskick väntar på en e-postadress: 2 utskick")
    todo.get_by_role("link", name="Visa utskick utan mottagare (2 utskick)").click()
    expect(page.get_by_role("main")).to_contain_text("ingen e-postadress att skicka till ännu")
    no_violations(page, axe_source)
    page.goto(f"{world.server.url}/")
    no_violations(page, axe_source)


def test_api_docs_load_with_no_request_leaving_the_machine(world: World, page: Page) -> None:
    """Swagger UI renders the API's title, and every request the page made went to
    127.0.0.1: its script, style and icon are served by the app, not a CDN."""
    requested: list[str] = []

    def remember(request: Request) -> None:
        requested.append(request.url)

    page.on("request", remember)
    page.goto(f"{world.server.url}/api/v1/docs")
    # Swagger UI renders the whole schema first: over 5 s on a loaded 2-core machine.
    title = page.locator(".swagger-ui .info .title")
    expect(title).to_contain_text("Kvalitetsutmärkelsen", timeout=30_000)
    expect(page.get_by_text("/api/v1/cycles/{year}/copy").first).to_be_visible()
    hosts = {urlparse(url).hostname for url in requested if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"}, requested
    assert any(url.endswith("swagger-ui-bundle.js") for url in requested)
