"""Reading units from a CSV file (as exported from Excel: `,` or `;`, UTF-8 with or without BOM).

Parsing only: every row is checked and every problem is named with its row number, so a
coordinator fixes the file once. `services.import_units` then stores all rows or none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from workflow.domain.errors import InvalidInput, Reason, refusal
from workflow.models import UnitCreate

REQUIRED_COLUMNS = (
    "name",
    "staff_count",
    "manager_has_budget_and_staff_responsibility",
    "has_business_plan",
    "share_stockholm_residents",
    "budget_in_balance",
    "privately_run",
)
OPTIONAL_COLUMNS = (
    "organisation_id",
    "organisation",
    "contact_email",
    "earlier_participation_years",
    "earlier_participation_count",
)
_TRUE = {"1", "true", "yes", "ja", "j", "y", "x"}
_FALSE = {"0", "false", "no", "nej", "n", ""}


def decode_csv(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise refusal(
            InvalidInput,
            "not_utf8",
            f"Filen är inte UTF-8 (byte {error.start}); spara den som CSV UTF-8 och försök igen.",
        ) from None


def parse_units_csv(
    text: str, *, organisation_ids_by_name: Mapping[str, int]
) -> list[tuple[int, UnitCreate]]:
    """(row number, spec) for every data row; raises InvalidInput naming each bad row."""
    specs, reasons = read_units_csv(text, organisation_ids_by_name=organisation_ids_by_name)
    if reasons:
        raise InvalidInput(reasons)
    if not specs:
        raise refusal(InvalidInput, "empty_file", "Filen innehåller inga enheter.")
    return specs


def _delimiter(text: str) -> str:
    """The header's delimiter (Excel writes ";" in a Swedish locale). Only the delimiter is
    sniffed: the rest is Excel's standard dialect, whose quoting doubles a quote inside a
    quoted field — a sniffer reading one header line cannot see that."""
    try:
        return csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def read_units_csv(
    text: str, *, organisation_ids_by_name: Mapping[str, int]
) -> tuple[list[tuple[int, UnitCreate]], list[Reason]]:
    """The rows that could be read and the reasons, by row, of those that could not (a preview
    shows both). A header that cannot be used raises InvalidInput: no row can be read then."""
    reader = csv.DictReader(io.StringIO(text), dialect=csv.excel, delimiter=_delimiter(text))
    _check_columns([c.strip() for c in reader.fieldnames or []])
    specs: list[tuple[int, UnitCreate]] = []
    reasons: list[Reason] = []
    for row_number, raw_row in enumerate(reader, start=2):  # row 1 is the header
        row = {(k or "").strip(): (v or "").strip() for k, v in raw_row.items() if k is not None}
        if None in raw_row:
            reasons.append(Reason("too_many_fields", f"Rad {row_number}: för många fält."))
            continue
        if not any(row.values()):
            continue
        if None in raw_row.values():  # DictReader's filler for the fields a short row lacks
            reasons.append(Reason("too_few_fields", f"Rad {row_number}: för få fält."))
            continue
        problems: list[str] = []
        spec = _spec_from_row(row, organisation_ids_by_name, problems)
        if problems or spec is None:
            reasons.extend(Reason("invalid_row", f"Rad {row_number}: {p}") for p in problems)
        else:
            specs.append((row_number, spec))
    return specs, reasons


def _check_columns(columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if "organisation_id" not in columns and "organisation" not in columns:
        missing.append("organisation_id (eller organisation)")
    if missing:
        raise refusal(
            InvalidInput, "missing_columns", f"Kolumner saknas i rubrikraden: {', '.join(missing)}."
        )
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:  # DictReader would silently keep the last one
        raise refusal(
            InvalidInput, "duplicate_columns", f"Kolumner finns två gånger: {', '.join(twice)}."
        )
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise refusal(InvalidInput, "unknown_columns", f"Okända kolumner: {', '.join(unknown)}.")


def _spec_from_row(
    row: Mapping[str, str], organisation_ids_by_name: Mapping[str, int], problems: list[str]
) -> UnitCreate | None:
    organisation_id = _organisation(row, organisation_ids_by_name, problems)
    staff = _integer(row, "staff_count", problems)
    share = _share(row.get("share_stockholm_residents", ""), problems)
    flags = {
        name: _boolean(row, name, problems)
        for name in (
            "manager_has_budget_and_staff_responsibility",
            "has_business_plan",
            "budget_in_balance",
            "privately_run",
        )
    }
    years: list[int] = []
    for part in (
        row.get("earlier_participation_years", "").replace(";", " ").replace(",", " ").split()
    ):
        if part.isdigit() and len(part) == 4:
            years.append(int(part))
        else:
            problems.append(f"'{part}' i earlier_participation_years är inget årtal.")
    count = (
        _integer(row, "earlier_participation_count", problems)
        if row.get("earlier_participation_count")
        else 0
    )
    if problems or organisation_id is None or staff is None or share is None or count is None:
        return None
    return UnitCreate(
        organisation_id=organisation_id,
        name=row["name"],
        staff_count=staff,
        manager_has_budget_and_staff_responsibility=bool(
            flags["manager_has_budget_and_staff_responsibility"]
        ),
        has_business_plan=bool(flags["has_business_plan"]),
        share_stockholm_residents=share,
        budget_in_balance=bool(flags["budget_in_balance"]),
        privately_run=bool(flags["privately_run"]),
        contact_email=row.get("contact_email") or None,
        earlier_participation_years=tuple(years),
        earlier_participation_count=count,
    )


def _organisation(
    row: Mapping[str, str], ids_by_name: Mapping[str, int], problems: list[str]
) -> int | None:
    if row.get("organisation_id"):
        return _integer(row, "organisation_id", problems)
    name = row.get("organisation", "")
    if name not in ids_by_name:
        problems.append(f"okänd organisation '{name}'.")
        return None
    return ids_by_name[name]


def _integer(row: Mapping[str, str], column: str, problems: list[str]) -> int | None:
    value = row.get(column, "")
    try:
        if not value.isascii():  # int() also reads '٥' and '1_0'; a spreadsheet means neither
            raise ValueError(value)
        return int(value.replace("_", "!"))
    except ValueError:
        problems.append(f"'{value}' i {column} är inget heltal.")
        return None


def _boolean(row: Mapping[str, str], column: str, problems: list[str]) -> bool | None:
    value = row.get(column, "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    problems.append(f"'{value}' i {column} är varken ja eller nej.")
    return None


def _share(value: str, problems: list[str]) -> float | None:
    """0.8, 0,8 and 80 % all mean the same share."""
    text = value.replace(",", ".").replace(" ", "")
    percent = text.endswith("%")
    try:
        number = float(text.rstrip("%"))
    except ValueError:
        problems.append(f"'{value}' i share_stockholm_residents är ingen andel.")
        return None
    return number / 100 if percent else number
