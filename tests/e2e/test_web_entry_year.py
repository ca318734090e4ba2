"""The entry page for the rest of the year: the award office gives more time, the
coordinator files the entry under a case number and corrects what was typed wrong — in a real
chromium against a real server; axe-core finds nothing on the pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import seed_cycle, seed_unit
from tests.e2e.browser import (
    axe_violations,
    describe_violations,
)
from tests.e2e.conftest import LiveServer
from tests.e2e.test_web import ADMIN, COORDINATOR, log_in
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import Entry, Reminder, Unit

YEAR = 2027  # still to come: its reminders are planned


@dataclass
class World:
    server: LiveServer
    engine: Engine
    entry_id: int

    def entry(self) -> Entry:
        with transaction(self.engine) as session:
            return session.get_one(Entry, self.entry_id)

    def pending_deadlines(self) -> set[str]:
        with transaction(self.engine) as session:
            rows = session.exec(
                select(Reminder).where(
                    Reminder.entry_id == self.entry_id,
                    Reminder.status == "pending",
                    Reminder.deadline_kind == "contribution",
                )
            ).all()
            return {row.deadline.isoformat() for row in rows}


@pytest.fixture
def world(sqlite_server: LiveServer) -> Iterator[World]:
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    seed_cycle(engine, YEAR)
    unit_id = seed_unit(engine)
    now = datetime.now(UTC)
    with transaction(engine) as session:
        entry = services.create_entry(
            session, unit_id=unit_id, year=YEAR, award_class="socialtjanst", actor="t", now=now
        )
        organisation_id = session.get_one(Unit, unit_id).organisation_id
        for (name, password), role, org in (
            (ADMIN, "admin", None),
            (COORDINATOR, "coordinator", organisation_id),
        ):
            services.create_user(
                session, name=name, role=role, organisation_id=org, password=password, now=now
            )
    yield World(sqlite_server, engine, entry.id or 0)
    engine.dispose()


def no_violations(page: Page, source: str, what: str) -> None:
    violations = axe_violations(page, source)
    assert not violations, f"{what}: {describe_violations(violations)}"


def test_admin_extends_the_contribution_deadline_and_sees_the_replanned_reminders(
    world: World, page: Page, axe_source: str
) -> None:
    """The admin gives Ungdomsjouren until 31 May: the confirmation stays at the top with the
    stage, the entry's date says 31 May (förlängd tid), the planned reminders count down to
    31 May and none to 17 May; the timeline records old → new and why."""
    log_in(page, world.server, ADMIN)
    page.goto(f"{world.server.url}/entries/{world.entry_id}")
    expect(page.locator("#nasta-steg")).to_contain_text("Skicka in det skriftliga bidraget")
    expect(page.locator("#nasta-steg")).to_contain_text("senast den 17 maj 2027")
    expect(page.locator("#paminnelser")).to_contain_text("17 maj 2027")
    expect(page.get_by_text("Version", exact=True)).to_have_count(0)
    no_violations(page, axe_source, "entry with its forms")

    form = page.get_by_role("region", name="Ge förlängd tid")
    form.get_by_label("Tidsfrist").select_option("contribution")
    form.get_by_label("Ny sista dag").fill(f"{YEAR}-05-10")
    form.get_by_label("Skäl till förlängningen").fill("Chefen har varit sjukskriven.")
    form.get_by_role("button", name="Ge förlängd tid").click()
    expect(page.get_by_role("region", name="Ge förlängd tid").get_by_role("alert")).to_contain_text(
        "efter omgångens sista dag"
    )
    assert world.entry().version == 1
    no_violations(page, axe_source, "entry with a refused extension")

    form = page.get_by_role("region", name="Ge förlängd tid")
    form.get_by_label("Ny sista dag").fill(f"{YEAR}-05-31")
    form.get_by_role("button", name="Ge förlängd tid").click()

    assert page.url.endswith("#bekraftelse")
    confirmation = page.locator("#bekraftelse")
    expect(confirmation.get_by_role("status")).to_have_text(
        "Posten har fått förlängd tid och påminnelserna är planerade om."
    )
    expect(confirmation).to_contain_text("Posten är nu i steget Anmäld.")
    expect(confirmation).to_be_in_viewport()
    expect(page.locator("#frist-bidrag")).to_contain_text("31 maj 2027")
    expect(page.locator("#frist-bidrag")).to_contain_text("förlängd tid")
    expect(page.locator("#nasta-steg")).to_contain_text("senast den 31 maj 2027")
    reminders = page.locator("#paminnelser")
    expect(reminders).to_contain_text("sista dag 31 maj 2027")
    expect(reminders).not_to_contain_text("sista dag 17 maj 2027")
    timeline = page.locator("#tidslinje")
    expect(timeline).to_contain_text("Förlängd tid för bidraget")
    expect(timeline).to_contain_text("från 17 maj 2027 till 31 maj 2027")
    expect(timeline).to_contain_text("Chefen har varit sjukskriven.")
    assert world.pending_deadlines() == {f"{YEAR}-05-31"}
    no_violations(page, axe_source, "entry after an extension")


def test_coordinator_files_the_entry_under_a_case_number_and_corrects_it(
    world: World, page: Page, axe_source: str
) -> None:
    """The coordinator sets SLK 2027/123: the page shows it, and the next e-mail's subject
    carries "[Dnr SLK 2027/123]". The coordinator cannot extend (no such form)."""
    log_in(page, world.server, COORDINATOR)
    page.goto(f"{world.server.url}/entries/{world.entry_id}")
    expect(page.get_by_role("region", name="Ge förlängd tid")).to_have_count(0)

    form = page.get_by_role("region", name="Diarienummer")
    form.get_by_role("textbox", name="Diarienummer").fill("x" * 41)
    form.get_by_role("button", name="Spara diarienumret").click()
    expect(page.get_by_role("region", name="Diarienummer").get_by_role("alert")).to_contain_text(
        "högst 40 tecken"
    )
    no_violations(page, axe_source, "entry with a refused case number")
    page.get_by_role("region", name="Diarienummer").get_by_role("textbox").fill("SLK 2027/123")
    page.get_by_role("button", name="Spara diarienumret").click()
    expect(page.locator("#bekraftelse").get_by_role("status")).to_have_text(
        "Diarienumret är sparat."
    )
    expect(page.locator("#diarienummer")).to_have_text("SLK 2027/123")

    board = page.get_by_role("region", name="Nämndbeslut")
    board.get_by_label("Nämndens beslut").select_option("approved")
    board.get_by_label("Sammanträdesdatum").fill("2099-04-18")
    board.get_by_label("Paragraf i protokollet").fill("§ 12")
    board.get_by_role("button", name="Registrera nämndbeslut").click()
    expect(page.get_by_role("region", name="Nämndbeslut")).to_contain_text("ligger i framtiden")
    board = page.get_by_role("region", name="Nämndbeslut")
    board.get_by_label("Sammanträdesdatum").fill("2026-11-18")
    board.get_by_role("button", name="Registrera nämndbeslut").click()
    expect(page.locator(".lead .badge")).to_have_text("Nämndbeslut")
    expect(page.locator("#utskick").locator("xpath=..")).to_contain_text("[Dnr SLK 2027/123]")

    page.get_by_text("Rätta uppgifter", exact=True).first.click()
    correction = page.get_by_role("region", name="Rätta uppgifter")
    correction.get_by_label("Nämndbeslut: sammanträdesdatum").fill("2026-11-19")
    correction.get_by_label("Varför rättas uppgifterna?").fill("Protokollet säger 19 november.")
    no_violations(page, axe_source, "entry with the correction form open")
    correction.get_by_role("button", name="Spara rättelsen").click()
    expect(page.locator("#bekraftelse").get_by_role("status")).to_have_text(
        "Rättelsen är sparad och syns i tidslinjen."
    )
    timeline = page.locator("#tidslinje")
    expect(timeline).to_contain_text("Uppgifter rättade")
    expect(timeline).to_contain_text(re.compile(r"2026-11-18 → 2026-11-19"))
    assert world.entry().facts["board_decision"]["meeting_date"] == "2026-11-19"
