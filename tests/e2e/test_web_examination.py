"""Examination from the web, as the award runs it: the admin sets the team from the class's
page, two examiners assess (neither sees the other's until their own is in), the lead writes
the consensus beside the spread of scores, and the entry is examined. A real server on
SQLite, Debian's chromium, axe-core on every page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import col, select

from tests.e2e.conftest import LiveServer
from tests.e2e.test_web_years import no_violations, unit_spec
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import User
from workflow.services import examination

ADMIN = ("kansliet", "kansliet-lösen-1")
LENA = ("lena", "lena-lösen-12")
OLLE = ("olle", "olle-lösen-12")
SARA = ("sara", "sara-lösen-12")  # from the unit's own administration: jäv
NOW = datetime.now(UTC)


@dataclass
class World:
    server: LiveServer
    engine: Engine
    entry_id: int


@pytest.fixture
def world(sqlite_server: LiveServer) -> Iterator[World]:
    """2027 with Ungdomsjouren (Socialförvaltningen), its contribution in and its site visit
    booked; the suggested criteria; examiners from Kulturförvaltningen and one of its own."""
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    with transaction(engine) as session:
        services.create_cycle(
            session, year=2027, contribution_deadline=date(2027, 5, 17),
            extract_deadline=date(2027, 6, 28), winners_date=date(2027, 11, 25),
        )  # fmt: skip
        social = services.create_organisation(
            session, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden"
        )
        culture = services.create_organisation(
            session, name="Kulturförvaltningen", kind="forvaltning", board="Kulturnämnden"
        )
        spec = unit_spec(social.id or 0, "Ungdomsjouren", "chef@example.se")
        spec.privately_run = True
        unit = services.create_unit(session, spec)
        entry = services.create_entry(
            session, unit_id=unit.id or 0, year=2027, award_class="socialtjanst",
            actor="test", now=NOW,
        )  # fmt: skip
        entry = services.advance_entry(
            session, entry_id=entry.id or 0, target="submitted", version=1, actor="test", now=NOW
        )
        services.schedule_site_visit(
            session, entry_id=entry.id or 0, version=entry.version, on=date(2027, 9, 14),
            actor="test", now=NOW,
        )  # fmt: skip
        examination.seed_default_criteria(session, year=2027, now=NOW)
        for (name, password), role, org in (
            (ADMIN, "admin", None), (LENA, "examiner", culture.id),
            (OLLE, "examiner", culture.id), (SARA, "examiner", social.id),
        ):  # fmt: skip
            services.create_user(
                session, name=name, role=role, organisation_id=org, password=password, now=NOW
            )
    yield World(sqlite_server, engine, entry.id or 0)
    engine.dispose()


def log_in(page: Page, server: LiveServer, who: tuple[str, str]) -> None:
    page.context.clear_cookies()
    page.goto(f"{server.url}/login")
    page.get_by_label("Användarnamn").fill(who[0])
    page.get_by_label("Lösenord").fill(who[1])
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Översikt")


def assess(page: Page, axe_source: str, score: str, *, submit: bool = True) -> None:
    page.get_by_label("Dag för platsbesöket (ÅÅÅÅ-MM-DD)").fill("2027-09-14")
    page.get_by_label("Antal intervjuade: chefen").fill("1")
    page.get_by_label("Antal intervjuade: medarbetare").fill("4")
    for score_field in page.get_by_label("Poäng (1–5)").all():
        score_field.select_option(score)
    page.get_by_label("Styrkor").first.fill("Tydliga mål som alla känner till.")
    page.get_by_label("Utvecklingsområden").first.fill("Mät brukarnas nöjdhet oftare.")
    no_violations(page, axe_source)
    page.get_by_role("button", name="Lämna in bedömningen" if submit else "Spara utkast").click()


def test_two_examiners_assess_and_the_lead_reaches_consensus(
    world: World, page: Page, axe_source: str
) -> None:
    url = world.server.url
    log_in(page, world.server, ADMIN)
    page.goto(f"{url}/admin/cycles/2027/criteria")
    expect(page.get_by_label("Namn").first).to_have_value("Ledarskap")
    no_violations(page, axe_source)
    page.get_by_role("link", name="Tilldela examinatorer i klassen socialtjänst").click()
    for name in ("lena", "sara"):  # sara is of the unit's own administration
        page.get_by_label(name).check()
    page.get_by_role("button", name="Tilldela examinatorer").click()
    expect(page.get_by_role("alert")).to_contain_text("inte tillräckligt många examinatorer")
    no_violations(page, axe_source)
    page.get_by_label("olle").check()
    page.get_by_role("button", name="Tilldela examinatorer").click()
    expect(page.get_by_role("status")).to_contain_text("Examinatorsteamet är sparat")
    expect(page.get_by_role("listitem").filter(has_text="Ungdomsjouren")).to_contain_text(
        "lena (huvudexaminator), olle"
    )
    page.goto(f"{url}/entries/{world.entry_id}/team")
    expect(page.get_by_label("sara")).to_be_disabled()
    no_violations(page, axe_source)

    log_in(page, world.server, OLLE)
    todo = page.get_by_role("region", name="Att göra")
    expect(todo).to_contain_text("Bedömningen ska lämnas in: Ungdomsjouren")
    todo.get_by_role("link", name="Skriv bedömning (Ungdomsjouren)").click()
    assess(page, axe_source, "2")
    expect(page.get_by_role("status")).to_contain_text("Bedömningen är inlämnad och låst")
    expect(page.get_by_role("heading", name="Övriga examinatorers bedömningar")).to_have_count(0)

    log_in(page, world.server, LENA)
    page.goto(f"{url}/entries/{world.entry_id}/assessment")
    expect(page.get_by_text("olle – inlämnad")).to_have_count(0)  # hidden until hers is in
    assess(page, axe_source, "4")
    expect(page.get_by_text("olle – inlämnad")).to_be_visible()
    no_violations(page, axe_source)
    page.goto(f"{url}/")
    page.get_by_role("region", name="Att göra").get_by_role(
        "link", name="Skriv konsensus (Ungdomsjouren)"
    ).click()
    expect(page.get_by_text("Spridning för Ledarskap: ")).to_contain_text("lägst 2, högst 4")
    no_violations(page, axe_source)
    page.get_by_role("button", name="Fastställ konsensus").click()  # nothing filled in yet
    expect(page.get_by_role("alert")).to_contain_text("Ange poäng för 'Ledarskap'")
    no_violations(page, axe_source)
    for score_field in page.get_by_label("Poäng (1–5)").all():
        score_field.select_option("3")
    page.get_by_label("Sammanfattning").fill("Ett genomtänkt kvalitetsarbete med tydlig ledning.")
    page.get_by_role("button", name="Fastställ konsensus").click()
    expect(page.get_by_role("status")).to_contain_text("Konsensus är fastställd")
    expect(page.get_by_text("Examinerad").first).to_be_visible()
    team = page.get_by_role("region", name="Examinatorer")
    expect(team).to_contain_text("lena (Kulturförvaltningen) (huvudexaminator)")
    no_violations(page, axe_source)


def test_only_the_team_opens_the_forms_and_the_admin_reopens_with_a_reason(
    world: World, page: Page, axe_source: str
) -> None:
    """Sara (not in the team) finds no such entry; Olle's submitted assessment is reopened by
    the admin from the consensus page, with why, and Olle may change it again."""
    with transaction(world.engine) as session:
        examiners = session.exec(select(User).where(col(User.role) == "examiner")).all()
        ids = {u.name: u.id or 0 for u in examiners}
        examination.set_team(
            session, entry_id=world.entry_id, members=[ids["lena"], ids["olle"]],
            lead=ids["lena"], acting=None, now=NOW,
        )  # fmt: skip
    log_in(page, world.server, SARA)
    response = page.goto(f"{world.server.url}/entries/{world.entry_id}/assessment")
    assert response is not None and response.status == 404
    log_in(page, world.server, OLLE)
    page.goto(f"{world.server.url}/entries/{world.entry_id}/assessment")
    assess(page, axe_source, "3")
    log_in(page, world.server, ADMIN)
    page.goto(f"{world.server.url}/entries/{world.entry_id}/consensus")
    expect(page.get_by_text("olle: inlämnad")).to_be_visible()
    no_violations(page, axe_source)
    page.get_by_role("button", name="Öppna bedömningen igen").click()  # no reason given
    page.get_by_label("Varför bedömningen öppnas igen").fill("Poängen behöver ses över.")
    page.get_by_role("button", name="Öppna bedömningen igen").click()
    expect(page.get_by_role("status")).to_contain_text("Bedömningen är öppnad igen")
    expect(page.get_by_text("olle: utkast")).to_be_visible()
    no_violations(page, axe_source)
    log_in(page, world.server, OLLE)
    page.goto(f"{world.server.url}/entries/{world.entry_id}/assessment")
    expect(page.get_by_role("button", name="Lämna in bedömningen")).to_be_visible()
