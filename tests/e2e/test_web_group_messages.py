"""The award office writes to a group in the browser: the form refuses an unknown placeholder
beside the text, the preview lists every recipient and who cannot be reached with one example,
and the send queues one message each, once however often it is submitted. Real uvicorn, real
SQLite, chromium, and axe-core with no violations on each page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import seed_cycle
from tests.e2e.browser import describe_violations
from tests.e2e.conftest import LiveServer
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import OutboxMessage

ADMIN = ("anna", "kansliet-lösen-1")
COORDINATOR = ("sam", "samordnar-lösen-1")
NOW = datetime(2024, 4, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(sqlite_server: LiveServer) -> Iterator[Engine]:
    """2024: Ungdomsjouren and Nattjouren have addresses, Familjehuset has none."""
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    seed_cycle(engine)
    with transaction(engine) as session:
        social = services.create_organisation(
            session, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden"
        )
        for name, email in (
            ("Ungdomsjouren", "chef1@example.se"),
            ("Nattjouren", "chef2@example.se"),
            ("Familjehuset", None),
        ):
            unit = services.create_unit(
                session,
                services.UnitCreate(
                    organisation_id=social.id or 0, name=name, staff_count=12,
                    manager_has_budget_and_staff_responsibility=True, has_business_plan=True,
                    share_stockholm_residents=0.9, budget_in_balance=True, privately_run=False,
                    contact_email=email,
                ),
            )  # fmt: skip
            services.create_entry(
                session, unit_id=unit.id or 0, year=2024, award_class="socialtjanst",
                actor="test", now=NOW,
            )  # fmt: skip
        services.create_user(session, name=ADMIN[0], role="admin", password=ADMIN[1], now=NOW)
        services.create_user(
            session, name=COORDINATOR[0], role="coordinator", password=COORDINATOR[1], now=NOW,
            organisation_id=social.id,
        )  # fmt: skip
    yield engine
    engine.dispose()


def no_violations(page: Page, axe_source: str) -> None:
    """axe-core finds nothing at all on the page (any impact)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    violations = results["violations"]
    assert not violations, f"{page.url}\n{describe_violations(violations)}"


def log_in(page: Page, server: LiveServer, name: str, password: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Användarnamn").fill(name)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Översikt")


def group_rows(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(
            session.exec(select(OutboxMessage).where(OutboxMessage.kind == "group_message")).all()
        )


def test_the_award_office_previews_then_sends_a_group_message(
    sqlite_server: LiveServer, engine: Engine, page: Page, axe_source: str
) -> None:
    log_in(page, sqlite_server, *ADMIN)
    page.get_by_role("link", name="Skriv till en grupp").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Skriv till en grupp")
    no_violations(page, axe_source)

    # An unknown placeholder is refused beside the text, naming it; nothing is queued.
    page.get_by_label("Ämne").fill("Ert bidrag, {enhet}")
    page.get_by_label("Text", exact=True).fill("Hej {namn}!\n\nSkicka bidraget senast {datum}.")
    page.get_by_label("Bara de som inte har lämnat sitt skriftliga bidrag").check()
    page.get_by_role("button", name="Förhandsgranska").click()
    expect(page.locator("#text-error")).to_contain_text("{namn}")
    expect(page.get_by_label("Ämne")).to_have_value("Ert bidrag, {enhet}")
    no_violations(page, axe_source)
    assert group_rows(engine) == []

    # The preview: both reachable units, the one without an address, one example.
    page.get_by_label("Text", exact=True).fill(
        "Hej {enhet}!\n\nSkicka bidraget senast {datum}:\n{länk}"
    )
    page.get_by_role("button", name="Förhandsgranska").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Granska meddelandet")
    recipients = page.get_by_role("region", name="Mottagare (2)")
    expect(recipients.get_by_role("rowheader")).to_have_text(
        ["chef2@example.se", "chef1@example.se"]
    )
    unreachable = page.get_by_role("region", name="Kan inte nås (1)")
    expect(unreachable.get_by_role("rowheader")).to_have_text(["Familjehuset"])
    example = page.get_by_role("region", name="Exempel: till chef2@example.se")
    expect(example).to_contain_text("Ämne: Ert bidrag, Nattjouren – Kvalitetsutmärkelsen")
    expect(example).to_contain_text("Hej Nattjouren!")
    expect(example).to_contain_text("senast den 17 maj 2024:")
    no_violations(page, axe_source)
    assert group_rows(engine) == []

    form: dict[str, Any] = page.evaluate(
        "() => Object.fromEntries(new FormData("
        "document.querySelector('form[action=\"/admin/messages\"]')))"
    )
    page.get_by_role("button", name="Skicka till 2 mottagare").click()
    expect(page.get_by_role("status")).to_have_text(
        "2 meddelanden ligger i utkorgen och skickas som planerat."
    )
    sent = page.get_by_role("region", name="Skickade gruppmeddelanden")
    expect(sent.get_by_role("rowheader")).to_have_text(["Ert bidrag, {enhet}"])
    no_violations(page, axe_source)
    rows = group_rows(engine)
    assert sorted(r.recipient for r in rows) == ["chef1@example.se", "chef2@example.se"]

    # The same form sent again (a double click, a reload): nothing more is queued.
    again = page.request.post(f"{sqlite_server.url}/admin/messages", form=form)
    assert again.ok and "redan lagt i utkorgen" in again.text()
    assert len(group_rows(engine)) == 2


def test_only_the_admin_may_write_to_a_group(
    sqlite_server: LiveServer, engine: Engine, page: Page, axe_source: str
) -> None:
    log_in(page, sqlite_server, *COORDINATOR)
    expect(page.get_by_role("link", name="Skriv till en grupp")).to_have_count(0)
    answer = page.goto(f"{sqlite_server.url}/admin/messages")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Åtkomst nekad")
    no_violations(page, axe_source)
