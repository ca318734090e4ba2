"""The award office starts next year from this one: `/admin/cycles/{year}/copy` (admin only).

GET shows the cycle's dates and a form for the new year; POST makes the copy and shows what
came of it: the new dates (each moved one with why) and the units offered for re-registration,
each with a link to the registration form. A refusal is the form again with the reasons beside
the year field (4xx), never a 500.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, select

from workflow import db
from workflow.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    WorkflowError,
    refusal,
)
from workflow.domain.rules import EARLIEST_YEAR, LATEST_YEAR
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.http.years import registration_url
from workflow.entrypoints.web.pages import WebUser, render
from workflow.entrypoints.web.session import FormDep, authorised_user, current_user, form_text
from workflow.models import Cycle
from workflow.services.next_year import DATE_FIELDS, DATE_LABELS, copy_cycle

router = APIRouter(include_in_schema=False)
CycleYear = Annotated[int, Path(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
STATUS = {InvalidInput: 422, NotFound: 404, Conflict: 409}


def _admin(user: WebUser) -> None:
    if not user.is_admin:
        raise refusal(Forbidden, "forbidden", "Bara utmärkelsens kansli skapar nästa års omgång.")


def _source(session: Session, year: int) -> Cycle:
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    return cycle


def _form_context(cycle: Cycle, typed: str, errors: list[str]) -> dict[str, Any]:
    return {
        "source": cycle,
        "dates": [{"label": DATE_LABELS[f], "day": getattr(cycle, f)} for f in DATE_FIELDS],
        "typed_year": typed,
        "errors": errors,
        "result": None,
    }


@router.get("/admin/cycles/{year}/copy", response_class=HTMLResponse)
def copy_form(request: Request, year: CycleYear) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        _admin(user)
        cycle = _source(session, year)
        context = _form_context(cycle, str(year + 1), [])
    return render(request, "cycle_copy.html", context, user=user)


@router.post("/admin/cycles/{year}/copy", response_class=HTMLResponse)
def copy_submit(request: Request, year: CycleYear, form: FormDep) -> Response:
    user = authorised_user(request, form)
    _admin(user)
    typed = form_text(form, "year", 20)
    try:
        with db.transaction() as session:
            if not typed.isdigit() or len(typed) != 4:
                raise refusal(
                    InvalidInput, "invalid_year", "Ange det nya årtalet med fyra siffror."
                )
            copied = copy_cycle(
                session,
                from_year=year,
                to_year=int(typed),
                acting=user.actor,
                actor=user.actor.name,
                now=now(),
            )
            new = copied.cycle
            result = {
                "cycle": new,
                "dates": [{"label": DATE_LABELS[f], "day": getattr(new, f)} for f in DATE_FIELDS],
                "moved": copied.moved,
                "offers": [
                    {"offer": o, "register_url": registration_url(o.unit_id, new.year)}
                    for o in copied.offers
                ],
            }
    except (InvalidInput, NotFound, Conflict) as error:
        return _refused(request, user, year, typed, error)
    return render(request, "cycle_copy.html", {"source_year": year, "result": result}, user=user)


def _refused(
    request: Request, user: WebUser, year: int, typed: str, error: WorkflowError
) -> Response:
    with db.transaction() as session:
        cycle = _source(session, year)  # a vanished source year is a 404 page
        context = _form_context(cycle, typed, [r.message for r in error.reasons])
    status = next((s for kind, s in STATUS.items() if isinstance(error, kind)), 400)
    return render(request, "cycle_copy.html", context, user=user, status=status)
