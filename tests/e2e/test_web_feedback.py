"""The award office releases feedback from the cycle's feedback page: it sees per class which
entries lack consensus, a release of everything is refused naming them, a release of the
ready class goes through, and the entry page then links to the report."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, update
from sqlmodel import col

from tests.e2e.conftest import LiveServer
from tests.e2e.test_web_examination import log_in
from tests.e2e.test_web_years import no_violations
from tests.integration.test_feedback_release import NOW, examined_entry
from workflow import services
from workflow.auth import actor_of
from workflow.db import make_engine, transaction
from workflow.models import Entry

ADMIN = ("kansliet", "kansliet-lösen-12")


@pytest.fixture
def engine(sqlite_server: LiveServer) -> Iterator[Engine]:
    made = make_engine(sqlite_server.env["DATABASE_URL"])
    yield made
    made.dispose()


def test_the_admin_releases_a_ready_class_and_the_entry_links_the_report(
    sqlite_server: LiveServer, engine: Engine, page: Page, axe_source: str
) -> None:
    with transaction(engine) as session:
        culture = services.create_organisation(
            session, name="Kulturförvaltningen", kind="forvaltning", board="Kulturnämnden"
        )
        services.create_user(session, name=ADMIN[0], role="admin", password=ADMIN[1], now=NOW)
        team = tuple(
            actor_of(
                services.create_user(
                    session, name=name, role="examiner", organisation_id=culture.id, now=NOW
                ).user
            )
            for name in ("Jukka Mäkinen", "Zofia Łęcka")
        )
    ready = examined_entry(engine, "Förskolan Solen", team)
    waiting = examined_entry(engine, "Skolan Norr", team, consensus=False)
    with transaction(engine) as session:
        session.execute(update(Entry).where(col(Entry.id) == waiting).values(award_class="skola"))
    url = sqlite_server.url
    log_in(page, sqlite_server, ADMIN)
    page.goto(f"{url}/admin/cycles/2024/feedback")
    expect(page.locator("#feedback-classes")).to_contain_text("Skolan Norr")
    no_violations(page, axe_source)
    page.get_by_role("button", name="Släpp återkopplingen").click()
    expect(page.get_by_role("alert")).to_contain_text("Skolan Norr")
    no_violations(page, axe_source)
    release_class(page, "socialtjanst")
    report_link(page, url, ready)
    no_violations(page, axe_source)
    pdf = page.request.get(f"{url}/entries/{ready}/feedback-report.pdf")
    assert pdf.status == 200 and pdf.body()[:4] == b"%PDF"


def release_class(page: Page, award_class: str) -> None:
    """On the feedback page: release one class (of one entry) now."""
    page.get_by_label("Vad släpps").select_option(award_class)
    page.get_by_role("button", name="Släpp återkopplingen").click()
    expect(page.get_by_role("status")).to_contain_text("Återkopplingen är släppt")
    expect(page.locator("#feedback-releases")).to_contain_text("släppt till 1 enhet")


def report_link(page: Page, url: str, entry_id: int) -> None:
    """The entry's page links its feedback report."""
    page.goto(f"{url}/entries/{entry_id}")
    link = page.locator("#aterkopplingsrapport").get_by_role("link", name="PDF")
    expect(link).to_have_attribute("href", f"/entries/{entry_id}/feedback-report.pdf")
