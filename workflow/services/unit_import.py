"""The unit import: every row of a CSV file stored, or none, with reasons by row number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from workflow.domain.errors import Conflict, InvalidInput, Reason, refusal
from workflow.models import Organisation, Unit, UnitCreate
from workflow.services.registry import unit_from_spec, unit_spec_reasons

IMPORT_BATCH = 1_000  # rows per INSERT: memory stays flat however long the file is


def import_units(session: Session, specs: Sequence[tuple[int, UnitCreate]]) -> list[int]:
    """Create every unit or none, returning their ids; reasons name the CSV row (the int
    beside each spec). Rows go in as plain INSERTs a batch at a time, not as ORM objects: a
    city's first load of 100,000 units held every object in the session at once."""
    reasons = import_reasons(session, specs)
    if reasons:
        raise InvalidInput(reasons)
    statement = insert(Unit).returning(col(Unit.id), sort_by_parameter_order=True)
    ids: list[int] = []
    try:
        for start in range(0, len(specs), IMPORT_BATCH):
            batch = [_unit_row(spec) for _, spec in specs[start : start + IMPORT_BATCH]]
            ids.extend(
                int(i) for i in session.connection().execute(statement, batch).scalars() if i
            )
    except IntegrityError:  # another import (or person) created one of them just now
        raise refusal(
            Conflict, "unit_exists", "Någon av enheterna skapades nyss av någon annan; läs in igen."
        ) from None
    return ids


def _unit_row(spec: UnitCreate) -> dict[str, Any]:
    """The unit's column values, as `unit_from_spec` would set them."""
    unit = unit_from_spec(spec)
    return {name: getattr(unit, name) for name in _UNIT_COLUMNS}


_UNIT_COLUMNS = tuple(c.name for c in Unit.__table__.columns if c.name != "id")  # type: ignore[attr-defined]


def import_reasons(session: Session, specs: Sequence[tuple[int, UnitCreate]]) -> list[Reason]:
    """Why the rows cannot be stored as they are (each reason names its CSV row)."""
    reasons: list[Reason] = []
    known_orgs = set(session.exec(select(Organisation.id)).all())
    existing = {
        (org_id, name) for org_id, name in session.exec(select(Unit.organisation_id, Unit.name))
    }
    seen: dict[tuple[int, str], int] = {}
    for row, spec in specs:
        for reason in unit_spec_reasons(spec):
            reasons.append(Reason(reason.code, f"Rad {row}: {reason.message}"))
        if spec.organisation_id not in known_orgs:
            reasons.append(
                Reason(
                    "unknown_organisation", f"Rad {row}: okänd organisation {spec.organisation_id}."
                )
            )
        key = (spec.organisation_id, spec.name.strip())
        if key in existing:
            reasons.append(Reason("unit_exists", f"Rad {row}: enheten '{spec.name}' finns redan."))
        elif key in seen:
            reasons.append(Reason("duplicate_row", f"Rad {row}: samma enhet som rad {seen[key]}."))
        seen.setdefault(key, row)
    return reasons
