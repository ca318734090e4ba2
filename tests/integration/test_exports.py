"""The award office's exports, on SQLite and on PostgreSQL, opened the way Excel users' tools
(the csv module, openpyxl) open them."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, text

from tests.conftest import NOW, attach_extract, seed_cycle, seed_entry, seed_unit
from workflow import exports, services
from workflow.db import transaction
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import NotFound
from workflow.models import Entry
from workflow.queries import entries as entry_queries

SODERMALM = "Södermalms stadsdelsförvaltning"
HEADER = [
    "Id",
    "Enhet",
    "Organisation",
    "Klass",
    "Steg",
    "Anmäld",
    "Nämndbeslut",
    "Protokollsutdrag skickat",
    "Bidrag inlämnat",
    "Platsbesök",
    "Examinerad",
    "Jurybeslut (utfall)",
]


def step(engine: Engine, entry_id: int, target: str, at: datetime = NOW, **data: str) -> None:
    if target == "extract_sent":
        attach_extract(engine, entry_id)
    with transaction(engine) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        services.advance_entry(
            session,
            entry_id=entry_id,
            target=target,
            version=entry.version,
            actor="Åsa Öberg",
            now=at,
            note="Klart – enligt plan" if target == "examined" else None,
            data=data,
            # The state machine's path the jury's announcement takes (services/jury.py).
            announcement=target == "jury",
        )


def winner(engine: Engine) -> int:
    """Ungdomsjouren: every stage, the jury's winner in its class."""
    entry = seed_entry(engine)
    assert entry.id is not None
    step(
        engine,
        entry.id,
        "board_decision",
        decision="approved",
        meeting_date="2024-06-10",
        paragraph="§ 12",
    )
    step(engine, entry.id, "extract_sent", sent_on="2024-06-12")
    step(engine, entry.id, "submitted", submitted_on="2024-05-17", title="Trygghet")
    step(
        engine,
        entry.id,
        "examined",
        at=datetime(2024, 9, 13, 22, 30, tzinfo=UTC),  # 14 September 00:30 in Stockholm
        site_visit_on="2024-09-12",
        examiner="Åsa Öberg",
    )
    step(engine, entry.id, "feedback", strengths="Styrning", development_areas="Uppföljning")
    step(engine, entry.id, "jury", outcome="winner")
    return entry.id


def early_contribution(engine: Engine) -> int:
    """Förskolan Åkerbäret: the contribution came while the board had not yet met."""
    entry = seed_entry(engine, name="Förskolan Åkerbäret", organisation=SODERMALM)
    assert entry.id is not None
    with transaction(engine) as session:
        services.record_contribution(
            session,
            entry_id=entry.id,
            version=entry.version,
            actor="chef",
            now=NOW,
            submitted_on=date(2024, 5, 16),
        )
    return entry.id


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def read_xlsx(data: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def test_entries_csv_opens_with_swedish_letters_and_every_date(engine: Engine) -> None:
    won = winner(engine)
    early = early_contribution(engine)
    with transaction(engine) as session:
        rows = read_csv(exports.entries_csv(session, year=2024))
    assert rows[0] == HEADER
    assert rows[1:] == [
        [
            str(won),
            "Ungdomsjouren",
            "Socialförvaltningen",
            "socialtjänst",
            "Jurybeslut",
            "2024-04-02",
            "2024-06-10",
            "2024-06-12",
            "2024-05-17",
            "2024-09-12",
            "2024-09-14",  # the day in Stockholm, not in UTC
            "Vinnare i sin klass",
        ],
        [
            str(early),
            "Förskolan Åkerbäret",
            SODERMALM,
            "socialtjänst",
            "Anmäld",  # the stage is still notified ...
            "2024-04-02",
            "",
            "",
            "2024-05-16",  # ... but the contribution is in
            "",
            "",
            "",
        ],
    ]


def test_entries_xlsx_has_the_csv_rows_with_real_dates(engine: Engine) -> None:
    winner(engine)
    early_contribution(engine)
    with transaction(engine) as session:
        csv_rows = read_csv(exports.entries_csv(session, year=2024))
        data = exports.entries_xlsx(session, year=2024)
    assert [[as_text(v) for v in row] for row in read_xlsx(data)] == csv_rows

    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    assert sheet.title == "Poster 2024"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:L3"
    assert sheet.column_dimensions["B"].width >= len("Förskolan Åkerbäret")
    meeting = sheet["G2"]
    assert meeting.is_date and meeting.number_format == "yyyy-mm-dd"
    assert meeting.value == datetime(2024, 6, 10)
    assert isinstance(sheet.cell(row=2, column=1).value, int)


def test_formula_like_text_stays_text(engine: Engine) -> None:
    """A unit named like a formula is not run by Excel: quoted in CSV, a string in XLSX."""
    seed_cycle(engine)
    unit_id = seed_unit(engine, name='=HYPERLINK("http://x.se";"Klicka")')
    with transaction(engine) as session:
        services.create_entry(
            session, unit_id=unit_id, year=2024, award_class="skola", actor="t", now=NOW
        )
    with transaction(engine) as session:
        csv_rows = read_csv(exports.entries_csv(session, year=2024))
        data = exports.entries_xlsx(session, year=2024)
    assert csv_rows[1][1] == '\'=HYPERLINK("http://x.se";"Klicka")'
    assert read_xlsx(data)[1][1] == '=HYPERLINK("http://x.se";"Klicka")'
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml  # no formula anywhere in the sheet


def test_a_name_stored_before_control_characters_were_refused_still_exports(
    engine: Engine,
) -> None:
    """Names with control characters are refused now; a row from before must not make the
    workbook impossible to write (openpyxl refuses them): the character is left out."""
    entry_id = winner(engine)
    with engine.begin() as connection:
        unit_of_entry = "SELECT unit_id FROM entry WHERE id = :id"
        connection.execute(
            text(f"UPDATE unit SET name = :name WHERE id IN ({unit_of_entry})"),
            {"name": "Ungdoms\x01jouren", "id": entry_id},
        )
    with transaction(engine) as session:
        rows = read_xlsx(exports.entries_xlsx(session, year=2024))
    assert rows[1][1] == "Ungdomsjouren"


def test_only_the_years_entries_and_an_empty_cycle_has_only_the_header(engine: Engine) -> None:
    winner(engine)
    seed_cycle(engine, 2025)
    with transaction(engine) as session:
        assert read_csv(exports.entries_csv(session, year=2025)) == [HEADER]
        assert read_xlsx(exports.entries_xlsx(session, year=2025)) == [HEADER]
        assert len(read_csv(exports.entries_csv(session, year=2024))) == 2


def test_year_without_cycle_is_refused_clearly(engine: Engine) -> None:
    winner(engine)
    for export in (exports.entries_csv, exports.entries_xlsx):
        with transaction(engine) as session, pytest.raises(NotFound) as refused:
            export(session, year=1999)
        assert refused.value.reasons[0].code == "cycle_not_found"
        assert "ingen omgång för år 1999" in refused.value.reasons[0].message


def test_history_csv_rows_match_the_entry_history(engine: Engine) -> None:
    won = winner(engine)
    with transaction(engine) as session:
        history = entry_queries.entry_history(session, won)
        rows = read_csv(exports.history_csv(session, won))
    labels = {
        None: "",
        "notified": "Anmäld",
        "board_decision": "Nämndbeslut",
        "extract_sent": "Protokollsutdrag skickat",
        "submitted": "Bidrag inlämnat",
        "examined": "Examinerad",
        "feedback": "Återkoppling",
        "jury": "Jurybeslut",
    }
    assert rows[0] == [
        "Version",
        "Från steg",
        "Till steg",
        "Vem",
        "Tidpunkt (svensk tid)",
        "Anteckning",
        "Uppgifter",
    ]
    assert len(rows) == len(history) + 1 == 8
    for row, event in zip(rows[1:], history, strict=True):
        at = datetime.fromisoformat(event["at"]).astimezone(STOCKHOLM)
        assert row[:5] == [
            str(event["version"]),
            labels[event["from"]],
            labels[event["to"]],
            event["actor"],
            at.strftime("%Y-%m-%d %H:%M:%S"),
        ]
        assert row[5] == (event["note"] or "")
        assert (json.loads(row[6]) if row[6] else {}) == event["data"]
    examined = rows[5]
    assert examined[3] == "Åsa Öberg" and examined[4] == "2024-09-14 00:30:00"
    assert examined[5] == "Klart – enligt plan"


def test_history_of_unknown_entry_is_not_found(engine: Engine) -> None:
    with transaction(engine) as session, pytest.raises(NotFound):
        exports.history_csv(session, 404)
