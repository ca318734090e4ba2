"""The unit pages: a searchable list, page by page (3,000 units stay fast: the database
filters and pages by id), a form for a new unit, and a unit's own page where every fact can be
corrected, with why, and its correction history. The award office sees every unit; a
coordinator its own organisation's."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from workflow import db
from workflow.domain.access import Role
from workflow.domain.errors import Conflict, InvalidInput, NotFound, Reason, not_found
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.web.pages import Id, WebUser
from workflow.entrypoints.web.session import FormDep, check_csrf
from workflow.entrypoints.web.setup_common import (
    FieldOf,
    FormState,
    admin_or_coordinator,
    audit_events,
    form_int,
    form_share,
    form_values,
    own_code_field,
    place_reasons,
    raise_if,
    setup_page,
)
from workflow.models import MAX_ID, Organisation, Unit, UnitCreate
from workflow.services import registry

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
FLAGS = (
    "manager_has_budget_and_staff_responsibility",
    "has_business_plan",
    "budget_in_balance",
    "privately_run",
)
TEXTS = (
    "name",
    "organisation_id",
    "staff_count",
    "share_stockholm_residents",
    "contact_email",
    "earlier_participation_years",
    "earlier_participation_count",
)
WHERE: dict[str, str | FieldOf] = {
    "missing_name": "name",
    "name_too_long": "name",
    "invalid_characters": "name",
    "unit_exists": "name",
    "staff_count_invalid": "staff_count",
    "share_invalid": "share_stockholm_residents",
    "invalid_email": "contact_email",
    "invalid_year": "earlier_participation_years",
    "invalid_count": "earlier_participation_count",
    "missing_note": "note",
    "note_too_long": "note",
    "not_found": lambda r: "organisation_id" if r.message.startswith("Organisationen") else None,
    "forbidden": lambda r: "organisation_id" if "organisation" in r.message else None,
    **{f"invalid_number:{n}": own_code_field for n in TEXTS},
    "invalid_year_text": "earlier_participation_years",
}


def _organisations(session: Session, user: WebUser) -> list[Organisation]:
    query = select(Organisation).order_by(col(Organisation.name))
    if user.actor.role != Role.ADMIN:
        query = query.where(Organisation.id == user.actor.organisation_id)
    return list(session.exec(query).all())


def _list_context(
    session: Session, user: WebUser, q: str, organisation: int | None, after: int
) -> dict[str, Any]:
    query = select(Unit, Organisation.name).join(
        Organisation, col(Organisation.id) == Unit.organisation_id
    )
    if user.actor.role != Role.ADMIN:
        query = query.where(Unit.organisation_id == user.actor.organisation_id)
    if organisation:
        query = query.where(Unit.organisation_id == organisation)
    if q:
        query = query.where(func.lower(col(Unit.name)).contains(q.lower()))
    if after:
        query = query.where(col(Unit.id) > after)
    rows = session.exec(query.order_by(col(Unit.id)).limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = {k: v for k, v in {"q": q, "organisation": organisation or ""}.items() if v}
    return {
        "units": [{"unit": unit, "organisation": name} for unit, name in rows],
        "organisations": _organisations(session, user),
        "q": q,
        "organisation_filter": organisation or "",
        "first_page": f"/admin/units?{urlencode(filters)}" if after else None,
        "next_page": (
            f"/admin/units?{urlencode({**filters, 'after': rows[-1][0].id})}" if more else None
        ),
    }


@router.get("/admin/units", response_class=HTMLResponse)
def units_page(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    organisation: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    with db.transaction() as session:
        user = admin_or_coordinator(session, request)
        context = _list_context(session, user, q.strip(), organisation, after)
    defaults = {"organisation_id": organisation or user.actor.organisation_id or "",
                "staff_count": "", "share_stockholm_residents": "1",
                "manager_has_budget_and_staff_responsibility": "1", "has_business_plan": "1",
                "budget_in_balance": "1", "earlier_participation_count": "0"}  # fmt: skip
    context["state"] = FormState(values=defaults)
    return setup_page(request, "setup/units.html", context, user=user)


def _changes(form: FormData, reasons: list[Reason]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what was typed, the unit's fields read from it)."""
    values: dict[str, Any] = form_values(form, TEXTS)
    values.update({flag: form.get(flag) == "1" for flag in FLAGS})
    fields: dict[str, Any] = {flag: values[flag] for flag in FLAGS}
    fields["name"] = values["name"]
    fields["contact_email"] = values["contact_email"] or None
    for name, label in (
        ("organisation_id", "Organisation"),
        ("staff_count", "Antal medarbetare"),
        ("earlier_participation_count", "Antal tidigare deltaganden"),
    ):
        number = form_int(values[name], name, label, reasons)
        if number is None and not values[name] and name != "organisation_id":
            reasons.append(Reason(f"invalid_number:{name}", f"{label}: ange ett heltal."))
        if number is not None:
            fields[name] = number
    share = form_share(values["share_stockholm_residents"], reasons)
    if share is None and not values["share_stockholm_residents"]:
        reasons.append(
            Reason("invalid_number:share_stockholm_residents", "Ange andelen, t.ex. 0,8.")
        )
    elif share is not None:
        fields["share_stockholm_residents"] = share
    years: list[int] = []
    for part in values["earlier_participation_years"].replace(",", " ").split():
        if part.isascii() and part.isdigit() and len(part) == 4:
            years.append(int(part))
        else:
            reasons.append(Reason("invalid_year_text", f"'{part}' är inget årtal."))
    fields["earlier_participation_years"] = tuple(years)
    return values, fields


@router.post("/admin/units", response_class=HTMLResponse)
def create_unit(request: Request, form: FormDep) -> Response:
    with db.transaction() as session:
        user = admin_or_coordinator(session, request)
        check_csrf(user, form)
    reasons: list[Reason] = []
    values, fields = _changes(form, reasons)
    try:
        with db.transaction() as session:
            if "organisation_id" not in fields:
                reasons.append(Reason("invalid_number:organisation_id", "Välj en organisation."))
            raise_if(reasons)
            if user.actor.role != Role.ADMIN and fields["organisation_id"] != (
                user.actor.organisation_id
            ):
                raise not_found("Organisationen", fields["organisation_id"])
            unit = registry.create_unit(
                session,
                UnitCreate.model_validate(fields),
                registry.Created(user.actor.name, now()),
            )
            unit_id = unit.id
    except (InvalidInput, Conflict, NotFound) as error:
        state = place_reasons(FormState(values=values), error.reasons, WHERE)
        with db.transaction() as session:
            context = {**_list_context(session, user, "", None, 0), "state": state}
        return setup_page(request, "setup/units.html", context, user=user, status=422)
    return RedirectResponse(f"/admin/units/{unit_id}?ok=created", status_code=303)


def _visible_unit(session: Session, user: WebUser, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not registry.may_correct_unit(user.actor, unit):
        raise not_found("Enheten", unit_id)
    return unit


def _unit_values(unit: Unit) -> dict[str, Any]:
    values: dict[str, Any] = unit.model_dump()
    values["earlier_participation_years"] = ", ".join(
        str(y) for y in unit.earlier_participation_years
    )
    values["share_stockholm_residents"] = f"{unit.share_stockholm_residents:g}".replace(".", ",")
    values["contact_email"] = unit.contact_email or ""
    values["note"] = ""
    return values


def _unit_context(
    session: Session, user: WebUser, unit_id: int, state: FormState | None
) -> dict[str, Any]:
    unit = _visible_unit(session, user, unit_id)
    organisation = session.get_one(Organisation, unit.organisation_id)
    return {
        "unit": unit,
        "organisation": organisation,
        "organisations": _organisations(session, user),
        "state": state or FormState(values=_unit_values(unit)),
        "history": audit_events(session, "unit", unit_id),
    }


@router.get("/admin/units/{unit_id}", response_class=HTMLResponse)
def unit_page(request: Request, unit_id: Id) -> Response:
    with db.transaction() as session:
        user = admin_or_coordinator(session, request)
        context = _unit_context(session, user, unit_id, None)
    return setup_page(request, "setup/unit.html", context, user=user)


@router.post("/admin/units/{unit_id}", response_class=HTMLResponse)
def update_unit(request: Request, unit_id: Id, form: FormDep) -> Response:
    with db.transaction() as session:
        user = admin_or_coordinator(session, request)
        check_csrf(user, form)
        _visible_unit(session, user, unit_id)
    reasons: list[Reason] = []
    values, fields = _changes(form, reasons)
    values["note"] = form_values(form, ("note",))["note"]
    if user.actor.role != Role.ADMIN:
        fields.pop("organisation_id", None)
    try:
        with db.transaction() as session:
            raise_if(reasons)
            registry.update_unit(
                session,
                unit_id=unit_id,
                now=now(),
                changes=fields,
                note=values["note"],
                acting=user.actor,
            )
    except (InvalidInput, Conflict) as error:
        state = place_reasons(FormState(values=values), error.reasons, WHERE)
        with db.transaction() as session:
            context = _unit_context(session, user, unit_id, state)
        return setup_page(request, "setup/unit.html", context, user=user, status=422)
    return RedirectResponse(f"/admin/units/{unit_id}?ok=saved", status_code=303)
