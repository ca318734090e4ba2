"""Exports for the central award office: a cycle's entries (CSV, XLSX) and an entry's history.

The CSV files are for Swedish Excel: UTF-8 with a byte order mark (without it Excel reads the
file as Windows-1252 and å, ä, ö come out garbled) and `;` between fields (Swedish Excel uses
the comma as decimal separator, so it expects semicolons in a CSV it opens by double-click).
Dates are ISO 8601 (YYYY-MM-DD), the Swedish standard format, which Excel reads as dates.

A text cell that begins with = + - @ (or a tab / carriage return) is what a spreadsheet runs as
a formula; unit names and notes are typed by people, so in CSV such a cell gets a leading
apostrophe, and in XLSX it is written as a string cell, never as a formula.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlmodel import Session, col, select

from workflow import swedish
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import NotFound, refusal
from workflow.domain.rules import JURY_OUTCOMES
from workflow.domain.stages import STAGE_LABELS_SV, Stage
from workflow.feeds import fact_date, site_visit_day
from workflow.models import Cycle, HistoryEvent
from workflow.queries import entries as entry_queries

Cell = int | str | date | None

ENTRY_COLUMNS: tuple[str, ...] = (
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
)
HISTORY_COLUMNS: tuple[str, ...] = (
    "Version",
    "Från steg",
    "Till steg",
    "Vem",
    "Tidpunkt (svensk tid)",
    "Anteckning",
    "Uppgifter",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- rows ------------------------------------------------------------------------------------


def entry_rows(session: Session, *, year: int) -> list[tuple[Cell, ...]]:
    """One row per entry of the cycle `year` (columns as `ENTRY_COLUMNS`); NotFound without
    such a cycle. Dates are `date`s; a date not (yet) known is None."""
    if session.exec(select(Cycle.id).where(Cycle.year == year)).first() is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    views = entry_queries.entry_views(session, year=year)
    reached = _days_reached(session, [int(view["id"]) for view in views])
    rows: list[tuple[Cell, ...]] = []
    for view in views:
        entry_id = int(view["id"])
        facts, pending = view["facts"], view["pending"]
        outcome = (facts.get(Stage.JURY) or {}).get("outcome")
        rows.append(
            (
                entry_id,
                view["unit"],
                view["organisation"],
                swedish.klass_or_code(view["award_class"]),
                view["stage_label"],
                reached.get((entry_id, Stage.NOTIFIED))
                or datetime.fromisoformat(view["created_at"]).astimezone(STOCKHOLM).date(),
                fact_date(facts, Stage.BOARD_DECISION, "meeting_date"),
                fact_date(facts, Stage.EXTRACT_SENT, "sent_on")
                or reached.get((entry_id, Stage.EXTRACT_SENT)),
                # A contribution that came before the board had met is kept in `pending`.
                fact_date(facts, Stage.SUBMITTED, "submitted_on")
                or fact_date(pending, Stage.SUBMITTED, "submitted_on")
                or reached.get((entry_id, Stage.SUBMITTED)),
                site_visit_day(facts),
                reached.get((entry_id, Stage.EXAMINED)),
                swedish.versal(JURY_OUTCOMES.get(outcome, outcome)) if outcome else None,
            )
        )
    return rows


def _days_reached(session: Session, entry_ids: Sequence[int]) -> dict[tuple[int, str], date]:
    """The day (in Stockholm) each entry first reached each stage, from its history."""
    if not entry_ids:
        return {}
    events = session.exec(
        select(HistoryEvent.entry_id, HistoryEvent.to_stage, HistoryEvent.at)
        .where(col(HistoryEvent.entry_id).in_(entry_ids))
        .where(col(HistoryEvent.from_stage).is_distinct_from(col(HistoryEvent.to_stage)))
        .order_by(col(HistoryEvent.entry_id), col(HistoryEvent.version))
    ).all()
    reached: dict[tuple[int, str], date] = {}
    for entry_id, stage, at in events:
        reached.setdefault((entry_id, stage), at.astimezone(STOCKHOLM).date())
    return reached


def history_rows(session: Session, entry_id: int) -> list[tuple[Cell, ...]]:
    """The entry's history (columns as `HISTORY_COLUMNS`); NotFound for an unknown entry."""
    rows: list[tuple[Cell, ...]] = []
    for event in entry_queries.entry_history(session, entry_id):
        at = datetime.fromisoformat(event["at"]).astimezone(STOCKHOLM)
        rows.append(
            (
                event["version"],
                _stage_label(event["from"]),
                _stage_label(event["to"]),
                event["actor"],
                at.strftime("%Y-%m-%d %H:%M:%S"),
                event["note"],
                json.dumps(event["data"], ensure_ascii=False, sort_keys=True)
                if event["data"]
                else None,
            )
        )
    return rows


def _stage_label(stage: str | None) -> str | None:
    if stage is None:
        return None
    try:
        return STAGE_LABELS_SV[Stage(stage)]
    except ValueError:
        return stage


# --- formats ---------------------------------------------------------------------------------


def entries_csv(session: Session, *, year: int) -> bytes:
    return to_csv(ENTRY_COLUMNS, entry_rows(session, year=year))


def entries_xlsx(session: Session, *, year: int) -> bytes:
    return to_xlsx(ENTRY_COLUMNS, entry_rows(session, year=year), title=f"Poster {year}")


def history_csv(session: Session, entry_id: int) -> bytes:
    return to_csv(HISTORY_COLUMNS, history_rows(session, entry_id))


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """CSV for Swedish Excel: `;`-separated (the comma is the decimal sign in Swedish Excel),
    CRLF lines, UTF-8 with BOM (so Excel recognises UTF-8 and keeps å, ä, ö)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return f"'{value}"
    return str(value)


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, title: str) -> bytes:
    """An XLSX workbook: bold, frozen header row with a filter, fitted column widths, dates
    as real Excel dates (YYYY-MM-DD) and text always as text."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]  # Excel's limit for a sheet name
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(name) for name in header]
    for row_number, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row=row_number, column=column)
            if isinstance(value, str):
                # Names are refused with control characters; older rows may still hold some,
                # and one would make the whole workbook unwritable.
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text begins with
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            widths[column - 1] = max(widths[column - 1], len(_csv_cell(value)))
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(sheet.max_row, 1)}"
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = min(width + 2, 60)
    workbook.properties.creator = "Kvalitetsutmärkelsen, Stockholms stad"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
