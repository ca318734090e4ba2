"""The ceremony from the pages, on a real server (SQLite) in Debian's chromium with axe-core on
every page: the admin sets the prize cheque on the cycle's page and sends the invitation; the
winner's coordinator finds the diploma and the prize letter on the entry page and downloads
them; another organisation's coordinator gets 404 for the same address."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import Engine

from tests.conftest import seed_unit
from tests.e2e.conftest import LiveServer
from tests.e2e.test_web_examination import log_in
from tests.e2e.test_web_years import no_violations
from tests.integration.test_ceremony import invitations, organisation_of, pdf_text, render_png
from tests.integration.test_exports import winner
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import Unit

ADMIN = ("kansliet", "kansliet-lösen-1")
OWN = ("samordnaren", "samordnare-lösen-1")
OTHER = ("annan", "annan-samordnare-1")


@pytest.fixture
def world(sqlite_server: LiveServer) -> Iterator[tuple[LiveServer, Engine, int]]:
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    entry_id = winner(engine)
    organisation_id, _ = organisation_of(engine, entry_id)
    other_unit = seed_unit(engine, name="Äldreboendet", organisation="Äldreförvaltningen")
    with transaction(engine) as session:
        other_org = session.get_one(Unit, other_unit).organisation_id
        for (name, password), role, org in (
            (ADMIN, "admin", None),
            (OWN, "coordinator", organisation_id),
            (OTHER, "coordinator", other_org),
        ):
            services.create_user(
                session, name=name, role=role, organisation_id=org, password=password,
                now=datetime.now(UTC),
            )  # fmt: skip
    yield sqlite_server, engine, entry_id
    engine.dispose()


def test_prize_invitation_and_the_winner_s_documents_from_the_pages(
    world: tuple[LiveServer, Engine, int], page: Page, axe_source: str, tmp_path: Path
) -> None:
    server, engine, entry_id = world
    log_in(page, server, ADMIN)
    page.goto(f"{server.url}/admin/cycles/2024")
    ceremony = page.locator("#ceremoni")
    expect(ceremony).to_contain_text("26 november 2024 kl. 15.00–17.00")
    expect(ceremony).to_contain_text("50 000 kronor")
    no_violations(page, axe_source)
    page.get_by_label("Prischeck till varje vinnare (kronor)").fill("tusen")
    page.get_by_role("button", name="Spara").click()
    expect(page.locator(".field-error")).to_contain_text("hela kronor")
    no_violations(page, axe_source)
    page.get_by_label("Prischeck till varje vinnare (kronor)").fill("75 000")
    page.get_by_role("button", name="Spara").click()
    expect(page.get_by_role("status")).to_contain_text("Ändringen är sparad")
    expect(ceremony).to_contain_text("75 000 kronor")

    page.get_by_role("button", name="Skicka inbjudan till ceremonin").click()
    expect(page.get_by_role("status")).to_contain_text("Inbjudan till ceremonin är köad")
    expect(page.locator("#invite-hint")).to_contain_text("köad till 2 adresser")
    no_violations(page, axe_source)
    assert set(invitations(engine)) == {"chef@example.se", "samordnare@example.se"}

    log_in(page, server, OWN)
    page.goto(f"{server.url}/entries/{entry_id}")
    expect(page.get_by_role("heading", name="Diplom och prisbrev")).to_be_visible()
    no_violations(page, axe_source)
    with page.expect_download() as download:
        page.get_by_role("link", name="Diplom (PDF)").click()
    diploma = Path(download.value.path()).read_bytes()
    [sheet] = PdfReader(io.BytesIO(diploma)).pages
    assert float(sheet.mediabox.width) > float(sheet.mediabox.height)
    assert "Ungdomsjouren" in pdf_text(diploma)
    render_png(diploma, tmp_path / "diplom-fran-sidan.png")
    with page.expect_download() as download:
        page.get_by_role("link", name="Prisbrev med prischeck (PDF)").click()
    assert "75 000 kronor" in pdf_text(Path(download.value.path()).read_bytes())

    log_in(page, server, OTHER)
    for path in ("diploma.pdf", "prize-letter.docx", "prize-letter.pdf"):
        response = page.request.get(f"{server.url}/entries/{entry_id}/{path}")
        assert response.status == 404, (path, response.status)
