"""The jury from the web: the admin sets the committee with its chair, a member recommends,
the chair decides (a decision without motivation is refused with the reason), a coordinator
is kept out, and the admin announces. A real server on SQLite, chromium, axe-core on every
page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select

from tests.e2e.conftest import LiveServer
from tests.e2e.test_web_examination import log_in
from tests.e2e.test_web_years import no_violations
from tests.integration.test_jury import entry_with_consensus
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import OutboxMessage, Unit

ADMIN = ("kansliet", "kansliet-lösen-1")
ANNA = ("anna", "anna-lösen-1234")  # stadsdirektören, the chair
BERTIL = ("bertil", "bertil-lösen-12")
CECILIA = ("cecilia", "cecilia-lösen-1")  # the unit's coordinator
NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)


@dataclass
class World:
    server: LiveServer
    engine: Engine
    ids: dict[str, int]


@pytest.fixture
def world(sqlite_server: LiveServer) -> Iterator[World]:
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    ids = {
        "best": entry_with_consensus(engine, "Ungdomsjouren", 5),
        "other": entry_with_consensus(engine, "Fältgruppen", 3),
    }
    with transaction(engine) as session:
        organisation = session.exec(select(Unit)).first().organisation_id  # type: ignore[union-attr]
        for (name, password), role, org in (
            (ADMIN, "admin", None), (ANNA, "jury", None), (BERTIL, "jury", None),
            (CECILIA, "coordinator", organisation),
        ):  # fmt: skip
            made = services.create_user(
                session, name=name, role=role, organisation_id=org, password=password, now=NOW
            )
            ids[name] = made.user.id or 0
    yield World(sqlite_server, engine, ids)
    engine.dispose()


def test_the_committee_decides_and_the_admin_announces(
    world: World, page: Page, axe_source: str
) -> None:
    url = world.server.url
    log_in(page, world.server, ADMIN)
    page.goto(f"{url}/cycles/2024/jury")
    no_violations(page, axe_source)
    page.check(f"#member-{world.ids['anna']}")
    page.check(f"#chair-{world.ids['anna']}")
    page.check(f"#member-{world.ids['bertil']}")
    page.get_by_role("button", name="Spara juryn").click()
    expect(page.locator("main")).to_contain_text("anna (ordförande)")

    log_in(page, world.server, BERTIL)
    page.goto(f"{url}/cycles/2024/jury/socialtjanst")
    no_violations(page, axe_source)
    expect(page.get_by_role("heading", name="Juryns beslut (ordföranden)")).to_have_count(0)
    page.check(f"#recommendation-{world.ids['best']}")
    page.fill("#recommendation-motivation", "Starkast i klassen")
    page.get_by_role("button", name="Spara").click()
    expect(page.locator("body")).to_contain_text("bertil: Ungdomsjouren – Starkast i klassen")

    log_in(page, world.server, ANNA)
    page.goto(f"{url}/cycles/2024/jury/socialtjanst")
    page.check(f"#decision-{world.ids['best']}")
    page.locator("form", has=page.locator("#decision-motivation")).get_by_role(
        "button", name="Spara"
    ).click()
    expect(page.get_by_role("alert")).to_contain_text("Skriv en motivering")
    no_violations(page, axe_source)
    page.check(f"#decision-{world.ids['best']}")
    page.fill("#decision-motivation", "Ett föredöme för hela staden")
    page.locator("form", has=page.locator("#decision-motivation")).get_by_role(
        "button", name="Spara"
    ).click()
    expect(page.locator("body")).to_contain_text("Vinnare: Ungdomsjouren")

    log_in(page, world.server, CECILIA)
    response = page.goto(f"{url}/cycles/2024/jury/socialtjanst")
    assert response is not None and response.status == 403
    expect(page.locator("body")).not_to_contain_text("Ungdomsjouren")

    log_in(page, world.server, ADMIN)
    page.goto(f"{url}/cycles/2024/jury")
    page.get_by_role("button", name="Tillkännage nu").click()
    expect(page.locator("body")).to_contain_text("Besluten tillkännagavs")
    no_violations(page, axe_source)
    with transaction(world.engine) as session:
        kinds = session.exec(
            select(OutboxMessage.entry_id).where(OutboxMessage.kind == "jury_outcome")
        )
        assert sorted(kinds.all()) == sorted([world.ids["best"], world.ids["other"]])
