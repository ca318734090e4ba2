"""The board report draft (tjänsteutlåtande), on a real database (SQLite file and PostgreSQL).

The two multi-unit seeds are rebuilt: Bromma (seed 003: two units, one that took part in 2022
and 2023, one for the first time; the board notes) and Socialnämnden (seed 002: two units; the
board approves). The DOCX is read back with python-docx, the PDF with pypdf, and LibreOffice
must open and convert the DOCX. Refusals say why in Swedish and write nothing.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from docx import Document
from docx.enum.text import WD_COLOR_INDEX
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import Engine, func, text
from sqlmodel import Session, SQLModel, select

from tests.conftest import NOW, seed_cycle, service_unavailable
from workflow import documents, services, swedish
from workflow.db import transaction
from workflow.documents import ReportPreparation
from workflow.documents.context import UNIT_DESCRIPTION_PLACEHOLDER
from workflow.documents.markup import environment, inline_runs, parse_markup
from workflow.domain.errors import InvalidInput, NotFound, WorkflowError
from workflow.emails import render_email
from workflow.entrypoints.http import app as http_app
from workflow.entrypoints.http import deps
from workflow.models import Cycle, OutboxMessage
from workflow.queries import entries as entry_queries
from workflow.settings import Settings

TITLE_2024 = "Deltagande i kvalitetsutmärkelsen 2024"
SECTIONS = [
    "Förvaltningens förslag till beslut",
    "Sammanfattning",
    "Bakgrund",
    "Ärendet",
    "Ärendets beredning",
    "Förvaltningens synpunkter och förslag",
]
WORK = "Enheten för arbete och försörjning"
PREVENTIVE = "Förebyggande verksamhet"

BROMMA_PREPARATION = ReportPreparation(
    proposal="note",
    prepared_by="avdelningen för socialtjänst och fritid",
    consulted="avdelningen för äldreomsorg",
    informed=(
        ("samverkansgrupp", date(2024, 5, 6)),
        ("förvaltningsgruppen", date(2024, 5, 13)),
        ("Rådet för funktionshinderfrågor", date(2024, 5, 16)),
    ),
    case_officer="Eva Svensson",
    case_officer_phone="08-508 08 000",
    case_number="BRO 2024/123",
    document_date=date(2024, 5, 20),
    meeting_date=date(2024, 6, 13),
    director_name="Susanna Halldin Olsson",
    head_name="Fredrik Skoglund",
    unit_descriptions={
        WORK: "Enheten ger stöd till arbete och egen försörjning.\n\nEnheten har 14 medarbetare."
    },
)
SOCIAL_PREPARATION = ReportPreparation(
    prepared_by="avdelningen för socialt stöd",
    informed=(
        ("förvaltningsgruppen", date(2024, 5, 15)),
        ("Rådet för funktionshinderfrågor", date(2024, 5, 16)),
    ),
    document_date=date(2024, 5, 2),
    director_name="Veronica Wolgast Carstorp",
    director_title="Socialdirektör",
    head_name="Anna Mattsson",
)


# --- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    organisation_id: int
    entry_ids: tuple[int, ...]


def make_case(
    engine: Engine,
    *,
    organisation: str,
    board: str,
    units: tuple[tuple[str, str, tuple[int, ...], int], ...],
    year: int = 2024,
    kind: str = "forvaltning",
) -> Case:
    """An organisation with units (name, class, earlier years, earlier count) notified in `year`."""
    with transaction(engine) as session:
        has_cycle = session.exec(select(Cycle).where(Cycle.year == year)).first() is not None
    if not has_cycle:
        seed_cycle(engine, year)
    with transaction(engine) as session:
        org = services.create_organisation(
            session,
            name=organisation,
            kind=kind,
            board=board,
            coordinator_email="samordnare@example.se",
        )
        assert org.id is not None
        entry_ids = []
        for name, award_class, years, count in units:
            unit = services.create_unit(
                session,
                services.UnitCreate(
                    organisation_id=org.id,
                    name=name,
                    staff_count=14,
                    manager_has_budget_and_staff_responsibility=True,
                    has_business_plan=True,
                    share_stockholm_residents=0.95,
                    budget_in_balance=True,
                    privately_run=False,
                    contact_email="chef@example.se",
                    earlier_participation_years=years,
                    earlier_participation_count=count,
                ),
            )
            assert unit.id is not None
            entry = services.create_entry(
                session,
                unit_id=unit.id,
                year=year,
                award_class=award_class,
                actor="test",
                now=NOW,
            )
            assert entry.id is not None
            entry_ids.append(entry.id)
        return Case(org.id, tuple(entry_ids))


def bromma(engine: Engine) -> Case:
    """Seed 003; the board's decision to note is already recorded on the first unit."""
    case = make_case(
        engine,
        organisation="Bromma stadsdelsförvaltning",
        board="Bromma stadsdelsnämnd",
        units=(
            (WORK, "socialtjanst", (2022, 2023), 0),
            (PREVENTIVE, "aldreomsorg", (), 0),
        ),
    )
    record_decision(engine, case.entry_ids[0], "noted")
    return case


def social(engine: Engine) -> Case:
    """Seed 002: two units, no decision recorded yet; the draft proposes approval."""
    return make_case(
        engine,
        organisation="Socialförvaltningen",
        board="Socialnämnden",
        units=(
            ("Ungdomsjouren", "socialtjanst", (), 0),
            ("LSS/SoL-hälsan", "socialtjanst", (), 0),
        ),
    )


def record_decision(engine: Engine, entry_id: int, decision: str) -> None:
    with transaction(engine) as session:
        entry = entry_queries.get_entry(session, entry_id)
        services.advance_entry(
            session,
            entry_id=entry_id,
            target="board_decision",
            version=entry.version,
            actor="test",
            now=NOW,
            data={"decision": decision, "meeting_date": "2024-06-13", "paragraph": "§ 14"},
        )


def context_of(
    engine: Engine, case: Case, preparation: ReportPreparation | None, year: int = 2024
) -> dict[str, Any]:
    with transaction(engine) as session:
        return documents.build_report_context(
            session, case.organisation_id, year, preparation=preparation
        )


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the schema: what "nothing stored" is checked against."""
    with Session(engine) as session:
        return {
            table.name: int(session.exec(select(func.count()).select_from(table)).one())
            for table in SQLModel.metadata.sorted_tables
        }


# --- reading the files back ------------------------------------------------------------------


def flat(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class DocxView:
    title: list[str]
    sections: list[str]
    units: list[str]
    text: str  # every paragraph and table cell of the body, in order, on one line
    header: str
    highlighted: list[str]


def read_docx(data: bytes) -> DocxView:
    document = Document(io.BytesIO(data))
    by_style: dict[str, list[str]] = {"Heading 1": [], "Heading 2": [], "Heading 3": []}
    parts: list[str] = []
    highlighted: list[str] = []
    paragraphs = list(document.paragraphs)
    for table in document.tables:
        for row in table.rows:
            paragraphs.extend(p for cell in row.cells for p in cell.paragraphs)
    for paragraph in paragraphs:
        style = paragraph.style.name if paragraph.style is not None else ""
        if style in by_style:
            by_style[style].append(paragraph.text)
        highlighted.extend(
            run.text for run in paragraph.runs if run.font.highlight_color == WD_COLOR_INDEX.YELLOW
        )
    for paragraph in document.paragraphs:
        parts.append(paragraph.text)
    for table in document.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    header = document.sections[0].header
    header_text = " ".join(
        cell.text for table in header.tables for row in table.rows for cell in row.cells
    )
    return DocxView(
        title=by_style["Heading 1"],
        sections=by_style["Heading 2"],
        units=by_style["Heading 3"],
        text=flat(" ".join(parts)),
        header=flat(header_text),
        highlighted=highlighted,
    )


@dataclass(frozen=True)
class PdfView:
    text: str
    headings: list[tuple[float, str]]  # (font size, text) of lines in the bold face, FiraGO-Bold
    pages: int
    metadata_title: str


def read_pdf(data: bytes) -> PdfView:
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    texts: list[str] = []
    headings: list[tuple[float, str]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        bold = font and str(font.get("/BaseFont", "")).endswith("+FiraGO-Bold")
        if bold and text.strip():
            headings.append((round(float(size), 1), text.strip()))

    for page in reader.pages:
        texts.append(page.extract_text(visitor_text=visit))
    title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    return PdfView(flat(" ".join(texts)), headings, len(reader.pages), title)


def assert_in_order(text: str, parts: list[str]) -> None:
    position = 0
    for part in parts:
        found = text.find(part, position)
        assert found >= 0, f"{part!r} missing (or out of order) after position {position}"
        position = found + len(part)


BROMMA_FACTS = [
    "Bromma stadsdelsnämnd noterar anmälan och lägger den till handlingarna.",
    "Förvaltningen föreslår att nämnden noterar anmälan och lägger den till handlingarna.",
    f"{WORK} deltog också i Kvalitetsutmärkelsen år 2022 och 2023.",
    "Bidragen ska lämnas in senast den 17 maj 2024.",
    "Den 26 november 2024 utses vinnarna i årets kvalitetsutmärkelse.",
    "senast den 28 juni 2024 till kvalitetsutmarkelsen@stockholm.se",
    "i klasserna förskola, skola, äldreomsorg, socialtjänst och andra verksamheter",
    "deltar i klassen socialtjänst",
    "deltar i klassen äldreomsorg",
    "Inom enheten arbetar 14 medarbetare inklusive chef.",
    "Av verksamheten vänder sig 95 procent till stockholmare.",
    "bestå av minst fem medarbetare inklusive chef",
    "Enheten ger stöd till arbete och egen försörjning.",
    "Ärendet har beretts inom avdelningen för socialtjänst och fritid i samråd med "
    "avdelningen för äldreomsorg.",
    "De fackliga organisationerna har informerats i samverkansgrupp den 6 maj och i "
    "förvaltningsgruppen den 13 maj 2024.",
    "Rådet för funktionshinderfrågor har haft möjlighet att behandla ärendet den 16 maj 2024.",
]
SOCIAL_FACTS = [
    "Socialnämnden godkänner att Ungdomsjouren och LSS/SoL-hälsan deltar i Stockholms stads "
    "kvalitetsutmärkelse 2024.",
    "Förvaltningen föreslår att nämnden godkänner att Ungdomsjouren och LSS/SoL-hälsan deltar i "
    "Stockholms stads kvalitetsutmärkelse 2024.",
    "Ärendet har beretts inom avdelningen för socialt stöd.",
    "De fackliga organisationerna informeras i förvaltningsgruppen den 15 maj 2024.",
    "Rådet för funktionshinderfrågor får möjlighet att behandla ärendet den 16 maj 2024.",
    "Den 26 november 2024 utses vinnarna i årets kvalitetsutmärkelse.",
]


# --- DOCX and PDF ----------------------------------------------------------------------------


def test_bromma_docx_has_the_seed_structure_and_the_units_facts(engine: Engine) -> None:
    """Two units, one with earlier years, the board notes: as seed 003 reads."""
    case = bromma(engine)
    context = context_of(engine, case, BROMMA_PREPARATION)
    assert context["proposal"] == "note"
    assert [u["decision_recorded"] for u in context["units"]] == [True, False]

    view = read_docx(documents.render_report_docx(context))

    assert view.title == [TITLE_2024]
    assert view.sections == SECTIONS
    assert view.units == [WORK, PREVENTIVE]
    assert_in_order(view.text, BROMMA_FACTS[:2])
    for fact in BROMMA_FACTS:
        assert fact in view.text
    assert "godkänner" not in view.text
    # The signatures, with titles, and the first page's address block.
    assert "Susanna Halldin Olsson Fredrik Skoglund" in view.text
    assert "Stadsdelsdirektör Avdelningschef" in view.text
    assert "Bromma stadsdelsförvaltning Bromma stadsdelsförvaltning" in view.text
    assert "Till" in view.text and "Bromma stadsdelsnämnd" in view.text
    assert "Sammanträde 2024-06-13" in view.text and "2024-05-20" in view.text
    assert "Tjänsteutlåtande" in view.header and "Dnr BRO 2024/123" in view.header
    # Known facts leave only one placeholder: the description of the second unit.
    assert view.highlighted == [UNIT_DESCRIPTION_PLACEHOLDER]


def test_a_name_stored_before_control_characters_were_refused_still_makes_a_report(
    engine: Engine,
) -> None:
    """XML cannot hold control characters: one in an older row is left out of the DOCX and
    the PDF instead of making the board's report impossible to write."""
    case = social(engine)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE organisation SET board = :board WHERE id = :id"),
            {"board": "Social\x07nämnden", "id": case.organisation_id},
        )
    context = context_of(engine, case, None)
    assert "Till" in read_docx(documents.render_report_docx(context)).text
    assert "Socialnämnden" in read_docx(documents.render_report_docx(context)).text
    assert "Socialnämnden" in flat(read_pdf(documents.render_report_pdf(context)).text)


def test_bromma_pdf_has_the_same_sections_and_facts(engine: Engine) -> None:
    case = bromma(engine)
    view = read_pdf(documents.render_report_pdf(context_of(engine, case, BROMMA_PREPARATION)))

    headings = [text for size, text in view.headings if size == 12.5]
    assert headings == SECTIONS
    assert [text for size, text in view.headings if size == 17] == [TITLE_2024]
    assert [text for size, text in view.headings if size == 11] == [WORK, PREVENTIVE]
    assert_in_order(view.text, [TITLE_2024, *SECTIONS])
    for fact in BROMMA_FACTS:
        assert fact in view.text
    assert (
        f"Sida 1 ({view.pages})" in view.text and f"Sida {view.pages} ({view.pages})" in view.text
    )
    assert "Susanna Halldin Olsson" in view.text and "Stadsdelsdirektör" in view.text
    assert view.metadata_title == TITLE_2024


def test_socialnamnden_approves_both_units_in_docx_and_pdf(engine: Engine) -> None:
    """Seed 002: no decision recorded yet, so the draft proposes that the board approves."""
    case = social(engine)
    context = context_of(engine, case, SOCIAL_PREPARATION)
    assert context["proposal"] == "approve"

    docx = read_docx(documents.render_report_docx(context))
    pdf = read_pdf(documents.render_report_pdf(context))

    for view in (docx, pdf):
        assert_in_order(view.text, [TITLE_2024, *SECTIONS])
        for fact in SOCIAL_FACTS:
            assert fact in view.text
        assert "noterar anmälan" not in view.text
        assert "Veronica Wolgast Carstorp" in view.text and "Socialdirektör" in view.text
    assert docx.sections == SECTIONS
    assert docx.units == ["Ungdomsjouren", "LSS/SoL-hälsan"]


def test_a_draft_without_preparation_shows_what_to_fill_in(engine: Engine) -> None:
    case = social(engine)
    context = context_of(engine, case, None)
    docx = read_docx(documents.render_report_docx(context))
    pdf = read_pdf(documents.render_report_pdf(context))

    for placeholder in ("[avdelning]", "[namn]", "[handläggare]", "[sammanträdesdatum]"):
        assert placeholder in docx.highlighted
        assert placeholder in pdf.text
    assert (
        "De fackliga organisationerna informeras i samverkansgrupp den [datum] och i "
        "förvaltningsgruppen den [datum]." in docx.text
    )
    assert "Dnr [diarienummer]" in docx.header and "Förvaltningschef" in docx.text


def test_recorded_decisions_win_over_the_proposal_and_differing_ones_are_numbered(
    engine: Engine,
) -> None:
    case = social(engine)
    record_decision(engine, case.entry_ids[1], "noted")
    context = context_of(engine, case, ReportPreparation(proposal="approve"))
    assert context["proposal"] == "mixed"

    view = read_docx(documents.render_report_docx(context))

    assert (
        "1. Socialnämnden godkänner att Ungdomsjouren deltar i Stockholms stads "
        "kvalitetsutmärkelse 2024." in view.text
    )
    assert (
        "2. Socialnämnden noterar anmälan från LSS/SoL-hälsan och lägger den till handlingarna."
        in view.text
    )
    assert context["meeting_date"] == date(2024, 6, 13)  # from the recorded decision


def test_a_count_without_years_says_which_time_and_withdrawn_units_are_left_out(
    engine: Engine,
) -> None:
    """Seed 004: "Det är tredje gången …"; a withdrawn entry is no business of the board."""
    case = make_case(
        engine,
        organisation="Östermalms stadsdelsförvaltning",
        board="Östermalms stadsdelsnämnd",
        units=(
            ("Stöd- och serviceenhetens beställarenhet", "socialtjanst", (), 2),
            ("Utförarenheten", "socialtjanst", (2019,), 3),
            ("Hemtjänsten", "aldreomsorg", (), 0),
        ),
    )
    with transaction(engine) as session:
        entry = entry_queries.get_entry(session, case.entry_ids[2])
        services.withdraw_entry(
            session,
            entry_id=entry.id or 0,
            version=entry.version,
            actor="test",
            now=NOW,
            note="Enheten avstår i år.",
        )
    view = read_pdf(documents.render_report_pdf(context_of(engine, case, None)))

    assert (
        "Det är tredje gången Stöd- och serviceenhetens beställarenhet deltar i tävlingen."
        in view.text
    )
    assert "Utförarenheten deltog också i Kvalitetsutmärkelsen år 2019." in view.text
    assert "Det är fjärde gången Utförarenheten deltar i tävlingen." in view.text
    assert "Hemtjänsten" not in view.text


def test_a_company_board_is_its_styrelse(engine: Engine) -> None:
    case = make_case(
        engine,
        organisation="Stockholm Vatten och Avfall AB",
        board="Styrelsen för Stockholm Vatten och Avfall AB",
        kind="bolag",
        units=(("Kundservice", "andra_verksamheter", (), 0),),
    )
    view = read_docx(documents.render_report_docx(context_of(engine, case, None)))

    assert "Bolagets förslag till beslut" in view.sections
    assert "Bolaget föreslår att styrelsen godkänner att Kundservice deltar" in view.text
    assert "Verkställande direktör" in view.text


# --- LibreOffice -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice's soffice; Debian's libreoffice-writer is installed when it is missing."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
        for command in (["apt-get", "update", "-q"], [*install, "libreoffice-writer"]):
            subprocess.run(command, env=env, capture_output=True, timeout=1800, check=False)
        found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        service_unavailable("LibreOffice (soffice) is missing: apt-get install libreoffice-writer")
    assert found is not None
    return found


def convert_with_libreoffice(soffice: str, docx: Path, out: Path) -> Path:
    profile = out / "profile"  # its own profile: no clash with another LibreOffice running
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(docx),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    converted = out / f"{docx.stem}.pdf"
    assert result.returncode == 0, result.stderr
    assert converted.is_file(), f"no PDF from LibreOffice: {result.stdout} {result.stderr}"
    assert "Error" not in result.stderr, result.stderr
    return converted


@pytest.mark.parametrize("case_name", ["bromma", "social"])
def test_libreoffice_opens_and_converts_the_docx(
    engine: Engine, soffice: str, tmp_path: Path, case_name: str
) -> None:
    case = bromma(engine) if case_name == "bromma" else social(engine)
    preparation = BROMMA_PREPARATION if case_name == "bromma" else SOCIAL_PREPARATION
    with transaction(engine) as session:
        filename, _, data = documents.report_for(
            session, case.organisation_id, 2024, "docx", preparation=preparation
        )
    source = tmp_path / filename
    source.write_bytes(data)

    view = read_pdf(convert_with_libreoffice(soffice, source, tmp_path).read_bytes())

    assert_in_order(view.text, [TITLE_2024, *SECTIONS])
    facts = BROMMA_FACTS if case_name == "bromma" else SOCIAL_FACTS
    assert facts[0] in view.text
    # The page fields were laid out: "Sida 1 (2)" on the first page, with the page count.
    assert re.search(rf"Sida 1 \({view.pages}\)", view.text), view.text[:300]


# --- refusals, and nothing stored -------------------------------------------------------------


def test_refusals_say_why_in_swedish_and_store_nothing(engine: Engine) -> None:
    case = bromma(engine)
    seed_cycle(engine, 2025)  # a cycle in which Bromma has no entries
    before = row_counts(engine)

    refusals: list[tuple[type[WorkflowError], int, int, str, str]] = [
        (NotFound, case.organisation_id, 2025, "docx", "har inga anmälda enheter"),
        (NotFound, case.organisation_id, 2031, "pdf", "ingen omgång"),
        (NotFound, 999_999, 2024, "docx", "Organisationen med id 999999 finns inte"),
        (InvalidInput, case.organisation_id, 2024, "odt", "Okänt format 'odt'"),
    ]
    for error, organisation_id, year, fmt, reason in refusals:
        with transaction(engine) as session, pytest.raises(error) as raised:
            documents.report_for(session, organisation_id, year, fmt)
        assert reason in str(raised.value)
        assert all(r.message and r.code for r in raised.value.reasons)
    with transaction(engine) as session, pytest.raises(InvalidInput, match="Okänt förslag"):
        documents.report_for(
            session, case.organisation_id, 2024, "pdf", preparation=ReportPreparation("maybe")
        )
    # A draft that succeeds writes nothing either.
    with transaction(engine) as session:
        documents.report_for(session, case.organisation_id, 2024, "pdf")
        documents.report_attachment_for_entry(session, case.entry_ids[0])

    assert row_counts(engine) == before


def test_only_withdrawn_entries_leave_nothing_for_the_board(engine: Engine) -> None:
    case = make_case(
        engine,
        organisation="Skarpnäcks stadsdelsförvaltning",
        board="Skarpnäcks stadsdelsnämnd",
        units=(("Fritidsgården", "andra_verksamheter", (), 0),),
    )
    with transaction(engine) as session:
        entry = entry_queries.get_entry(session, case.entry_ids[0])
        services.withdraw_entry(
            session, entry_id=entry.id or 0, version=entry.version, actor="t", now=NOW, note="Nej."
        )
    before = row_counts(engine)
    with transaction(engine) as session, pytest.raises(NotFound, match="återkallade"):
        documents.report_for(session, case.organisation_id, 2024, "docx")
    assert row_counts(engine) == before


# --- the HTTP API ------------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = http_app.create_app()

    def session() -> Iterator[Session]:
        with transaction(engine) as db_session:
            yield db_session

    app.dependency_overrides[deps.get_session] = session
    with TestClient(app) as test_client:
        yield test_client


def token(
    engine: Engine,
    name: str,
    role: str,
    *,
    organisation_id: int | None = None,
    unit_id: int | None = None,
) -> dict[str, str]:
    with transaction(engine) as session:
        new = services.create_user(
            session,
            name=name,
            role=role,
            now=NOW,
            organisation_id=organisation_id,
            unit_id=unit_id,
        )
    return {"Authorization": f"Bearer {new.token}"}


def test_api_serves_docx_and_pdf_to_admin_and_own_coordinator(
    engine: Engine, client: TestClient
) -> None:
    case = social(engine)
    other = bromma(engine)
    admin = token(engine, "kansliet", "admin")
    coordinator = token(engine, "samordnare", "coordinator", organisation_id=case.organisation_id)
    with transaction(engine) as session:
        unit_id = entry_queries.entry_view(session, case.entry_ids[0])["unit_id"]
    contact = token(engine, "chefen", "unit_contact", unit_id=unit_id)
    url = f"/api/v1/organisations/{case.organisation_id}/report"
    before = row_counts(engine)

    response = client.get(url, params={"year": 2024, "format": "docx"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == documents.DOCX_CONTENT_TYPE
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    encoded = re.search(r"filename\*=UTF-8''(\S+)", disposition)
    assert encoded is not None
    assert unquote(encoded[1]) == (
        "Tjänsteutlåtande Deltagande i kvalitetsutmärkelsen 2024 - Socialförvaltningen.docx"
    )
    assert 'filename="Tjansteutlatande Deltagande i kvalitetsutmarkelsen 2024' in disposition
    assert read_docx(response.content).sections == SECTIONS

    response = client.get(url, params={"year": 2024, "format": "pdf"}, headers=coordinator)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert SOCIAL_FACTS[0] in read_pdf(response.content).text

    response = client.get(
        url, params={"year": 2024, "format": "pdf", "proposal": "note"}, headers=coordinator
    )
    assert "Socialnämnden noterar anmälan" in read_pdf(response.content).text

    # The coordinator of another organisation, and a unit's contact, are refused.
    response = client.get(
        f"/api/v1/organisations/{other.organisation_id}/report",
        params={"year": 2024},
        headers=coordinator,
    )
    assert response.status_code == 403
    assert response.json()["reasons"][0]["code"] == "forbidden"
    assert client.get(url, params={"year": 2024}, headers=contact).status_code == 403
    assert client.get(url, params={"year": 2024}).status_code == 401

    assert row_counts(engine) == before


def test_api_refusals_are_swedish(engine: Engine, client: TestClient) -> None:
    case = social(engine)
    admin = token(engine, "kansliet", "admin")
    url = f"/api/v1/organisations/{case.organisation_id}/report"

    response = client.get(url, params={"year": 2019}, headers=admin)
    assert response.status_code == 404
    assert "ingen omgång av kvalitetsutmärkelsen för år 2019" in response.json()["detail"]

    seed_cycle(engine, 2025)
    response = client.get(url, params={"year": 2025}, headers=admin)
    assert response.status_code == 404
    assert response.json()["reasons"][0]["code"] == "no_entries"

    response = client.get(url, params={"year": 2024, "format": "odt"}, headers=admin)
    assert response.status_code == 422
    assert "Okänt format 'odt'" in response.json()["detail"]

    response = client.get("/api/v1/organisations/999999/report?year=2024", headers=admin)
    assert response.status_code == 404
    assert "Organisationen med id 999999 finns inte" in response.json()["detail"]


# --- the e-mail attachment ---------------------------------------------------------------------


def test_the_agenda_request_can_carry_the_draft(engine: Engine) -> None:
    """What the outbox relay will do: render the agenda request with the draft attached."""
    case = social(engine)
    with transaction(engine) as session:
        attachment = documents.report_attachment_for_entry(session, case.entry_ids[0])
        outbox = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.entry_id == case.entry_ids[0], OutboxMessage.kind == "agenda_request"
            )
        ).one()
    message = render_email(
        "agenda_request",
        to=outbox.recipient,
        context=outbox.payload,
        key=outbox.key,
        date=NOW,
        settings=Settings(),
        attachments=[attachment],
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    (part,) = list(parsed.iter_attachments())
    assert part.get_filename() == (
        "Tjänsteutlåtande Deltagande i kvalitetsutmärkelsen 2024 - Socialförvaltningen.docx"
    )
    assert part.get_content_type() == documents.DOCX_CONTENT_TYPE
    assert read_docx(part.get_content()).sections == SECTIONS


# --- the pure parts ---------------------------------------------------------------------------


def test_swedish_wording_helpers() -> None:
    assert swedish.lista([]) == ""
    assert swedish.lista(["A"]) == "A"
    assert swedish.lista(["A", "B"]) == "A och B"
    assert swedish.lista(["A", "B", "C"]) == "A, B och C"
    assert swedish.lista([2022, 2023]) == "2022 och 2023"
    assert [swedish.ordningstal(n) for n in (1, 2, 3, 4, 5, 12)] == [
        "första",
        "andra",
        "tredje",
        "fjärde",
        "femte",
        "tolfte",
    ]
    assert [swedish.ordningstal(n) for n in (21, 22, 25, 111)] == [
        "21:a",
        "22:a",
        "25:e",
        "111:e",
    ]
    assert swedish.antal(5) == "fem" and swedish.antal(15) == "15"
    assert swedish.versal("nämnden") == "Nämnden" and swedish.versal("LSS/SoL") == "LSS/SoL"
    assert documents.report_filename('A/B: "C"', 2024, "pdf").endswith(" - A-B- -C.pdf")


def test_markup_is_parsed_into_header_and_blocks() -> None:
    markup = parse_markup(
        "---\ndnr: 1/2024\n---\n# Titel\n\n## Rubrik\nEn rad\nsom fortsätter [fyll i].\n"
        "- punkt\n  fortsätter\n1. först\n\n| a | b |\n| c | d |\n"
    )
    assert markup.header["dnr"] == "1/2024" and markup.title == "Titel"
    assert [(b.kind, b.text, b.label) for b in markup.blocks[:5]] == [
        ("title", "Titel", ""),
        ("heading", "Rubrik", ""),
        ("paragraph", "En rad som fortsätter [fyll i].", ""),
        ("bullet", "punkt fortsätter", ""),
        ("numbered", "först", "1."),
    ]
    assert markup.blocks[5].rows == (("a", "b"), ("c", "d"))
    assert inline_runs("x **y [z]** [w]") == [
        ("x ", False, False),
        ("y ", True, False),
        ("[z]", True, True),
        (" ", False, False),
        ("[w]", False, True),
    ]
    with pytest.raises(ValueError, match="Okänd rad"):
        parse_markup("---\ndiarienummer: 1\n---\n# T\n")


def test_a_name_cannot_change_the_documents_structure() -> None:
    """A value with line breaks stays inside its sentence (no heading or list item from data)."""
    env = environment()
    rendered = env.from_string("Text {{ name }} slut.").render(name="X\n# Rubrik\n- punkt")
    assert [b.kind for b in parse_markup(rendered).blocks] == ["paragraph"]
