"""Registering a unit's entry for a cycle and class: the "notify" step (anmälan) in the web.

The page shows the unit's facts with each eligibility rule it fails beside the fact (the
domain's rules, with the cycle's budget rule), before and after a refused attempt; a unit
without a contact address is registered only when the person ticks that they know who will
get its e-mails instead (its organisation's coordinator). `create_entry` decides and checks
who may: the award office any unit, a coordinator its own organisation's."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from workflow import db
from workflow.domain import rules
from workflow.domain.access import Role
from workflow.domain.errors import (
    Conflict,
    Forbidden,
    Ineligible,
    InvalidInput,
    NotFound,
    Reason,
    not_found,
)
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.web.pages import WebUser
from workflow.entrypoints.web.session import FormDep, check_csrf
from workflow.entrypoints.web.setup_common import (
    FieldOf,
    FormState,
    admin_or_coordinator,
    form_int,
    form_values,
    own_code_field,
    place_reasons,
    raise_if,
    setup_page,
)
from workflow.models import MAX_ID, Organisation, Unit
from workflow.queries import registry as registry_queries
from workflow.services.entries import create_entry

router = APIRouter(include_in_schema=False)
# The eligibility rules' reason codes → the unit fact each is about.
RULE_FACTS = {
    "manager_responsibility": "manager_has_budget_and_staff_responsibility",
    "business_plan": "has_business_plan",
    "staff_count": "staff_count",
    "share_stockholm_residents": "share_stockholm_residents",
    "budget_in_balance": "budget_in_balance",
}
FACT_LABELS = {
    "staff_count": "Antal medarbetare inklusive chef",
    "manager_has_budget_and_staff_responsibility": "Chef med budget- och personalansvar",
    "has_business_plan": "Verksamhetsplan med mål",
    "share_stockholm_residents": "Andel för stockholmare",
    "budget_in_balance": "Budget i balans",
    "privately_run": "Enskilt driven",
}
WHERE: dict[str, str | FieldOf] = {
    **RULE_FACTS,
    "unknown_award_class": "award_class",
    "class_not_in_cycle": "award_class",
    "cycle_not_found": "year",
    "not_found": "unit_id",
    "no_contact": "confirm_no_contact",
    "invalid_number:unit_id": own_code_field,
    "invalid_number:year": own_code_field,
}
_FACTS = [f.name for f in dataclass_fields(rules.UnitFacts)]


def _unit(session: Session, user: WebUser, unit_id: int | None) -> Unit | None:
    if unit_id is None:
        return None
    unit = session.get(Unit, unit_id)
    visible = unit is not None and (
        user.actor.role == Role.ADMIN or unit.organisation_id == user.actor.organisation_id
    )
    return unit if visible else None


def _context(
    session: Session, user: WebUser, unit_id: int | None, year: int | None, state: FormState
) -> dict[str, Any]:
    cycles = registry_queries.cycles(session, newest_first=True)
    cycle = next((c for c in cycles if c.year == year), cycles[0] if cycles else None)
    unit = _unit(session, user, unit_id)
    if unit_id is not None and unit is None and "unit_id" not in state.errors:
        state.errors["unit_id"] = f"Enheten med id {unit_id} finns inte."
    facts: list[dict[str, Any]] = []
    organisation = None
    if unit is not None:
        organisation = session.get_one(Organisation, unit.organisation_id)
        failing = {
            RULE_FACTS.get(r.code): r.message
            for r in (
                *rules.eligibility_reasons(rules.UnitFacts(**unit.model_dump(include=set(_FACTS)))),
                *(rules.budget_reasons(cycle.budget_rule, unit.budget_in_balance) if cycle else ()),
            )
        }
        for name in _FACTS:
            value = getattr(unit, name)
            shown = (
                f"{value:.0%}"
                if name == "share_stockholm_residents"
                else ("ja" if value else "nej")
                if isinstance(value, bool)
                else str(value)
            )
            error = state.errors.get(name) or failing.get(name)
            facts.append({"name": name, "label": FACT_LABELS[name], "value": shown, "error": error})
    state.values.setdefault("year", cycle.year if cycle else "")
    state.values.setdefault("unit_id", unit_id or "")
    return {
        "cycles": cycles,
        "cycle": cycle,
        "unit": unit,
        "organisation": organisation,
        "facts": facts,
        "eligible": unit is not None and not any(f["error"] for f in facts),
        "class_choices": [
            (c, rules.AWARD_CLASSES.get(c, c)) for c in (cycle.classes if cycle else [])
        ],
        "year_choices": [(c.year, str(c.year)) for c in cycles],
        "budget_rule": rules.BUDGET_RULES.get(cycle.budget_rule, "") if cycle else "",
        "state": state,
    }


@router.get("/admin/entries/new", response_class=HTMLResponse)
def registration_page(
    request: Request,
    unit: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    year: Annotated[int | None, Query(ge=rules.EARLIEST_YEAR, le=rules.LATEST_YEAR)] = None,
) -> Response:
    with db.transaction() as session:
        user = admin_or_coordinator(session, request)
        context = _context(session, user, unit, year, FormState())
    return setup_page(request, "setup/registration.html", context, user=user)


@router.post("/admin/entries/new", response_class=HTMLResponse)
def register(request: Request, form: FormDep) -> Response:
    values: dict[str, Any] = form_values(form, ("year", "unit_id", "award_class"), 100)
    values["confirm_no_contact"] = form.get("confirm_no_contact") == "1"
    with db.transaction() as session:
        user = admin_or_coordinator(session, request)
        check_csrf(user, form)
    reasons: list[Reason] = []
    unit_id = form_int(values["unit_id"], "unit_id", "Enhetens id", reasons)
    year = form_int(values["year"], "year", "Omgång", reasons)
    if unit_id is None and not reasons:
        reasons.append(Reason("invalid_number:unit_id", "Ange vilken enhet som anmäls."))
    try:
        with db.transaction() as session:
            raise_if(reasons)
            assert unit_id is not None and year is not None
            unit = _unit(session, user, unit_id)
            if unit is None:
                raise not_found("Enheten", unit_id)
            if not unit.contact_email and not values["confirm_no_contact"]:
                raise InvalidInput(
                    (Reason("no_contact", "Bekräfta att enheten anmäls utan kontaktadress."),)
                )
            entry = create_entry(
                session,
                unit_id=unit_id,
                year=year,
                award_class=values["award_class"],
                actor=user.actor.name,
                now=now(),
                acting=user.actor,
            )
            entry_id = entry.id
    except (InvalidInput, Ineligible, Conflict, NotFound, Forbidden) as error:
        state = place_reasons(FormState(values=values), error.reasons, WHERE)
        status = (
            403 if isinstance(error, Forbidden) else 409 if isinstance(error, Conflict) else 422
        )
        with db.transaction() as session:
            context = _context(session, user, unit_id, year, state)
        return setup_page(request, "setup/registration.html", context, user=user, status=status)
    return RedirectResponse(f"/entries/{entry_id}?ok=moved", status_code=303)
