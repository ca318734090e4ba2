"""The award office's cycle pages: the list with a form for a new cycle, and a cycle's own page
to move its dates (pending reminders are re-planned) and change its classes, address and
budget rule. Each form is one use case; a refusal is the page again, reasons beside fields."""

from __future__ import annotations

from datetime import time
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import select
from starlette.datastructures import FormData

from workflow import db
from workflow.domain import rules
from workflow.domain.calendar import ceremony_span
from workflow.domain.errors import Conflict, InvalidInput, NotFound, Reason, refusal
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.web.session import FormDep, check_csrf
from workflow.entrypoints.web.setup_common import (
    FieldOf,
    FormState,
    admin,
    audit_events,
    field_named_in,
    form_date,
    form_time,
    form_values,
    own_code_field,
    place_reasons,
    raise_if,
    setup_page,
)
from workflow.models import Cycle
from workflow.queries import registry as registry_queries
from workflow.queries.ceremony import ceremony_view
from workflow.services import registry

router = APIRouter(include_in_schema=False)
DATES = ("contribution_deadline", "extract_deadline", "winners_date")
DATE_LABELS = {
    "contribution_deadline": "Sista dag för skriftligt bidrag",
    "extract_deadline": "Sista dag för protokollsutdrag",
    "winners_date": "Vinnarna utses",
}
TIMES = ("ceremony_starts_at", "ceremony_ends_at")
TIME_LABELS = {"ceremony_starts_at": "Ceremonin börjar", "ceremony_ends_at": "Ceremonin slutar"}
_DATE_FIELD = field_named_in(*DATES)
WHERE: dict[str, str | FieldOf] = {
    "date_outside_year": _DATE_FIELD,
    "deadlines_out_of_order": lambda r: (
        "contribution_deadline" if "bidraget" in r.message.split(" får")[0] else "winners_date"
    ),
    "implausible_year": "year",
    "cycle_exists": "year",
    "invalid_email": "award_office_email",
    "unknown_award_class": "classes",
    "missing_classes": "classes",
    "unknown_budget_rule": "budget_rule",
    "invalid_prize_amount": "prize_amount",
    "note_too_long": "note",
    **{f"invalid_date:{name}": own_code_field for name in DATES},
    **{f"invalid_time:{name}": own_code_field for name in TIMES},
    "ceremony_hours": "ceremony_ends_at",
    "invalid_number:year": own_code_field,
}
Year = Path(ge=rules.EARLIEST_YEAR, le=rules.LATEST_YEAR)


def _choices() -> dict[str, Any]:
    return {
        "class_choices": list(rules.AWARD_CLASSES.items()),
        "budget_rules": list(rules.BUDGET_RULES.items()),
        "date_labels": DATE_LABELS,
        "time_labels": TIME_LABELS,
    }


@router.get("/admin/cycles", response_class=HTMLResponse)
def cycles_page(request: Request) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
        cycles = registry_queries.cycles(session, newest_first=True)
    state = FormState(
        values={"classes": list(rules.AWARD_CLASSES), "budget_rule": rules.DEFAULT_BUDGET_RULE,
                "award_office_email": rules.AWARD_OFFICE_EMAIL,
                "prize_amount": _amount_text(rules.DEFAULT_PRIZE_AMOUNT)}
    )  # fmt: skip
    return setup_page(
        request, "setup/cycles.html", {"cycles": cycles, "state": state, **_choices()}, user=user
    )


@router.post("/admin/cycles", response_class=HTMLResponse)
def create_cycle(request: Request, form: FormDep) -> Response:
    values: dict[str, Any] = form_values(
        form, ("year", *DATES, *TIMES, "award_office_email", "budget_rule", "prize_amount")
    )
    values["classes"] = _classes(form)
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
    try:
        with db.transaction() as session:
            reasons: list[Reason] = []
            year = values["year"]
            if not (year.isascii() and year.isdigit() and len(year) == 4):
                reasons.append(Reason("invalid_number:year", "Ange året med fyra siffror."))
            days = {n: form_date(values[n], n, DATE_LABELS[n], reasons) for n in DATES}
            for name in DATES:
                if not values[name]:
                    reasons.append(Reason(f"invalid_date:{name}", f"{DATE_LABELS[name]} saknas."))
            prize = _form_amount(values["prize_amount"], reasons)
            hours = _form_times(values, reasons)
            raise_if(reasons)
            cycle = registry.create_cycle(
                session,
                year=int(year),
                contribution_deadline=days["contribution_deadline"],  # type: ignore[arg-type]
                extract_deadline=days["extract_deadline"],  # type: ignore[arg-type]
                winners_date=days["winners_date"],  # type: ignore[arg-type]
                award_office_email=values["award_office_email"] or rules.AWARD_OFFICE_EMAIL,
                classes=values["classes"] or None,
                budget_rule=values["budget_rule"] or rules.DEFAULT_BUDGET_RULE,
                prize_amount=rules.DEFAULT_PRIZE_AMOUNT if prize is None else prize,
                ceremony_starts_at=hours["ceremony_starts_at"],
                ceremony_ends_at=hours["ceremony_ends_at"],
                created=registry.Created(user.actor.name, now()),
            )
            created_year = cycle.year
    except (InvalidInput, Conflict) as error:
        with db.transaction() as session:
            cycles = registry_queries.cycles(session, newest_first=True)
        state = place_reasons(FormState(values=values), error.reasons, WHERE)
        context = {"cycles": cycles, "state": state, **_choices()}
        return setup_page(request, "setup/cycles.html", context, user=user, status=422)
    return RedirectResponse(f"/admin/cycles/{created_year}?ok=created", status_code=303)


def _amount_text(amount: int) -> str:
    return f"{amount:,}".replace(",", " ")


def _form_amount(text: str, reasons: list[Reason]) -> int | None:
    """Whole kronor as typed ("50 000", "50000 kr"); None when left empty."""
    plain = "".join(text.split()).removesuffix("kronor").removesuffix("kr")
    if not plain:
        return None
    if not (plain.isascii() and plain.isdigit()) or len(plain) > 9:
        reasons.append(
            Reason("invalid_prize_amount", "Ange prissumman i hela kronor, t.ex. 50 000.")
        )
        return None
    return int(plain)


def _classes(form: FormData) -> list[str]:
    return [str(v) for v in form.getlist("classes") if isinstance(v, str)][:20]


def _cycle(session: Any, year: int) -> Cycle:
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    return cycle  # type: ignore[no-any-return]


def _form_times(values: dict[str, Any], reasons: list[Reason]) -> dict[str, time | None]:
    return {n: form_time(values[n], n, TIME_LABELS[n], reasons) for n in TIMES}


def _values_of(cycle: Cycle) -> dict[str, Any]:
    hours = ceremony_span(cycle.ceremony_starts_at, cycle.ceremony_ends_at)
    return {
        **{name: getattr(cycle, name).isoformat() for name in DATES},
        **{name: f"{at:%H:%M}" for name, at in zip(TIMES, hours, strict=True)},
        "award_office_email": cycle.award_office_email,
        "budget_rule": cycle.budget_rule,
        "prize_amount": _amount_text(cycle.prize_amount),
        "classes": list(cycle.classes),
        "note": "",
    }


def cycle_context(session: Any, year: int) -> dict[str, Any]:
    """What the cycle's page shows (its form filled in with the cycle as it is)."""
    cycle = _cycle(session, year)
    return {
        "cycle": cycle,
        "state": FormState(values=_values_of(cycle)),
        "history": audit_events(session, "cycle", cycle.id or 0),
        "ceremony": ceremony_view(session, cycle),
        **_choices(),
    }


@router.get("/admin/cycles/{year}", response_class=HTMLResponse)
def cycle_page(request: Request, year: int = Year) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
        context = cycle_context(session, year)
    return setup_page(request, "setup/cycle.html", context, user=user)


@router.post("/admin/cycles/{year}", response_class=HTMLResponse)
def update_cycle(request: Request, form: FormDep, year: int = Year) -> Response:
    values: dict[str, Any] = form_values(
        form, (*DATES, *TIMES, "award_office_email", "budget_rule", "prize_amount", "note")
    )
    values["classes"] = _classes(form)
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
        _cycle(session, year)
    try:
        with db.transaction() as session:
            reasons: list[Reason] = []
            days = {n: form_date(values[n], n, DATE_LABELS[n], reasons) for n in DATES}
            prize = _form_amount(values["prize_amount"], reasons)
            hours = _form_times(values, reasons)
            raise_if(reasons)
            registry.update_cycle(
                session,
                year=year,
                now=now(),
                acting=user.actor,
                classes=values["classes"],
                award_office_email=values["award_office_email"] or None,
                budget_rule=values["budget_rule"] or None,
                prize_amount=prize,
                note=values["note"] or None,
                contribution_deadline=days["contribution_deadline"],
                extract_deadline=days["extract_deadline"],
                winners_date=days["winners_date"],
                ceremony_starts_at=hours["ceremony_starts_at"],
                ceremony_ends_at=hours["ceremony_ends_at"],
            )
    except InvalidInput as error:
        with db.transaction() as session:
            cycle = _cycle(session, year)
            context = {
                "cycle": cycle,
                "state": place_reasons(FormState(values=values), error.reasons, WHERE),
                "history": audit_events(session, "cycle", cycle.id or 0),
                "ceremony": ceremony_view(session, cycle),
                **_choices(),
            }
        return setup_page(request, "setup/cycle.html", context, user=user, status=422)
    return RedirectResponse(f"/admin/cycles/{year}?ok=saved", status_code=303)
