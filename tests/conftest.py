"""Shared fixtures: real databases (a SQLite file and a fresh PostgreSQL database per test).

Outside CI a missing PostgreSQL skips its half of the tests; with CI=true it fails them,
because a green CI must mean both databases were exercised.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from workflow import db, services
from workflow.db import make_engine, transaction
from workflow.models import Cycle, Entry, Organisation

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
NOW = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)


def service_unavailable(message: str) -> None:
    """Skip on a developer's machine; fail in CI, where every service must be there."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(message)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kvalitet.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    name = f"kvtest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        service_unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each persistence test runs once on a SQLite file and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    db.upgrade_schema(engine)
    yield engine
    engine.dispose()


def seed_cycle(engine: Engine, year: int = 2024) -> None:
    with transaction(engine) as session:
        services.create_cycle(
            session,
            year=year,
            contribution_deadline=date(year, 5, 17),
            extract_deadline=date(year, 6, 28),
            winners_date=date(year, 11, 26),
        )


def seed_unit(
    engine: Engine,
    *,
    name: str = "Ungdomsjouren",
    privately_run: bool = False,
    staff_count: int = 12,
    budget_in_balance: bool = True,
    organisation: str = "Socialförvaltningen",
) -> int:
    with transaction(engine) as session:
        org = session.exec(select(Organisation).where(Organisation.name == organisation)).first()
        if org is None:
            org = services.create_organisation(
                session,
                name=organisation,
                kind="forvaltning",
                board="Socialnämnden",
                coordinator_email="samordnare@example.se",
            )
        assert org.id is not None
        unit = services.create_unit(
            session,
            services.UnitCreate(
                organisation_id=org.id,
                name=name,
                staff_count=staff_count,
                manager_has_budget_and_staff_responsibility=True,
                has_business_plan=True,
                share_stockholm_residents=0.9,
                budget_in_balance=budget_in_balance,
                privately_run=privately_run,
                contact_email="chef@example.se",
            ),
        )
        assert unit.id is not None
        return unit.id


def seed_entry(engine: Engine, **unit_options: object) -> Entry:
    """A notified entry in the 2024 cycle (created if missing)."""
    with transaction(engine) as session:
        has_cycle = session.exec(select(Cycle).where(Cycle.year == 2024)).first() is not None
    if not has_cycle:
        seed_cycle(engine)
    unit_id = seed_unit(engine, **unit_options)  # type: ignore[arg-type]
    with transaction(engine) as session:
        return services.create_entry(
            session, unit_id=unit_id, year=2024, award_class="socialtjanst", actor="test", now=NOW
        )


def one_page_pdf(**extras: Any) -> bytes:
    """A real, one-page PDF as a scanner or Word would save it (uploads are parsed)."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    if "javascript" in extras:
        writer.add_open_action(JavaScript(extras["javascript"]))
    if "attachment" in extras:
        writer.add_attachment("bilaga.txt", extras["attachment"])
    if "password" in extras:
        writer.encrypt(extras["password"])
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


MINIMAL_PDF = one_page_pdf()


def attach_extract(engine: Engine, entry_id: int) -> None:
    """Upload a minutes extract (protokollsutdrag) PDF, as the coordinator does."""
    with transaction(engine) as session:
        services.attach_document(
            session,
            entry_id=entry_id,
            kind="extract",
            filename="protokollsutdrag.pdf",
            data=MINIMAL_PDF,
            actor="test",
            now=NOW,
        )
