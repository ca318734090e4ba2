"""Earlier participation follows from the entries the system holds: a unit's entry in an earlier
cycle makes the board report say it took part then; an unknown history says nothing (never
"första gången"). On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from datetime import date

from docx import Document
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import NOW, seed_cycle
from workflow import documents, services
from workflow.db import transaction
from workflow.models import Organisation
from workflow.queries import registry

SOCIAL = "Socialförvaltningen"


def unit(engine: Engine, name: str, *, years: tuple[int, ...] = (), count: int = 0) -> int:
    with transaction(engine) as session:
        org = session.exec(select(Organisation).where(Organisation.name == SOCIAL)).first()
        if org is None:
            org = services.create_organisation(
                session, name=SOCIAL, kind="forvaltning", board="Socialnämnden"
            )
        created = services.create_unit(
            session,
            services.UnitCreate(
                organisation_id=org.id or 0,
                name=name,
                staff_count=14,
                manager_has_budget_and_staff_responsibility=True,
                has_business_plan=True,
                share_stockholm_residents=0.9,
                budget_in_balance=True,
                privately_run=False,
                contact_email="chef@example.se",
                earlier_participation_years=years,
                earlier_participation_count=count,
            ),
        )
        return created.id or 0


def register(engine: Engine, unit_id: int, year: int, *, withdraw: bool = False) -> None:
    with transaction(engine) as session:
        entry = services.create_entry(
            session, unit_id=unit_id, year=year, award_class="socialtjanst", actor="t", now=NOW
        )
        if withdraw:
            services.advance_entry(
                session,
                entry_id=entry.id or 0,
                target="withdrawn",
                version=entry.version,
                actor="t",
                now=NOW,
                note="Avstår i år.",
            )


def report_text(engine: Engine, year: int) -> str:
    with transaction(engine) as session:
        org_id = session.exec(select(Organisation.id).where(Organisation.name == SOCIAL)).one()
        _, _, data = documents.report_for(
            session,
            org_id or 0,
            year,
            "docx",
            preparation=documents.ReportPreparation(document_date=date(year, 5, 2)),
        )
    paragraphs = [p.text for p in Document(io.BytesIO(data)).paragraphs]
    return re.sub(r"\s+", " ", " ".join(paragraphs))


def cycles(engine: Engine, *years: int) -> None:
    for year in years:
        seed_cycle(engine, year)


def test_a_2024_entry_makes_the_2025_report_say_the_unit_took_part_in_2024(engine: Engine) -> None:
    cycles(engine, 2024, 2025)
    jouren = unit(engine, "Ungdomsjouren")
    register(engine, jouren, 2024)
    register(engine, jouren, 2025)
    text = report_text(engine, 2025)
    assert "Ungdomsjouren deltog också i Kvalitetsutmärkelsen år 2024." in text
    assert "första gången" not in text


def test_an_unknown_history_says_nothing_about_earlier_participation(engine: Engine) -> None:
    """Nothing typed at registration, no earlier entry: neither "deltog också" nor "första
    gången" (the register cannot tell a first time from a history never typed in)."""
    cycles(engine, 2025)
    register(engine, unit(engine, "LSS/SoL-hälsan"), 2025)
    text = report_text(engine, 2025)
    assert "LSS/SoL-hälsan deltog" not in text
    assert "första gången" not in text
    assert "gången LSS/SoL-hälsan deltar" not in text


def test_typed_years_and_held_entries_are_joined_in_order(engine: Engine) -> None:
    cycles(engine, 2024, 2025)
    work = unit(engine, "Enheten för arbete och försörjning", years=(2022, 2023))
    register(engine, work, 2024)
    register(engine, work, 2025)
    text = report_text(engine, 2025)
    assert (
        "Enheten för arbete och försörjning deltog också i Kvalitetsutmärkelsen år 2022, 2023 "
        "och 2024." in text
    )


def test_a_typed_count_beyond_the_years_known_still_gives_the_ordinal(engine: Engine) -> None:
    """'Det är tredje gången' (seed 004) with one of the two earlier years held here."""
    cycles(engine, 2024, 2025)
    stod = unit(engine, "Beställarenheten", count=2)
    register(engine, stod, 2024)
    register(engine, stod, 2025)
    text = report_text(engine, 2025)
    assert "Beställarenheten deltog också i Kvalitetsutmärkelsen år 2024." in text
    assert "Det är tredje gången Beställarenheten deltar i tävlingen." in text


def test_a_withdrawn_entry_and_a_later_one_do_not_count(engine: Engine) -> None:
    cycles(engine, 2024, 2025, 2026)
    drog = unit(engine, "Drogstödet")
    register(engine, drog, 2024, withdraw=True)
    register(engine, drog, 2025)
    register(engine, drog, 2026)
    text = report_text(engine, 2025)
    assert "Drogstödet deltog" not in text
    with transaction(engine) as session:
        assert registry.participation_years(session, [drog], before_year=2027) == {
            drog: [2025, 2026]
        }
