"""The page to write to a group (admin): the form, a preview with every recipient and one
example, then the send. A token made with the preview rides in the form, so sending twice
(a double click, a reload) queues nothing twice."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from workflow import db
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import InvalidInput, Reason
from workflow.domain.group_messages import (
    AUDIENCE_LABELS_SV,
    MAX_SUBJECT,
    MAX_TEXT,
    PLACEHOLDERS,
    Audience,
)
from workflow.domain.rules import AWARD_CLASSES
from workflow.domain.stages import STAGE_LABELS_SV
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.web.pages import WebUser, render
from workflow.entrypoints.web.session import FormDep, check_csrf, form_text
from workflow.entrypoints.web.setup_common import FormState, admin
from workflow.models import Organisation
from workflow.queries.registry import cycles
from workflow.services import group_messages as service

router = APIRouter(include_in_schema=False)

SHOWN_RECIPIENTS = 500  # the preview lists this many; the rest are counted
_FIELDS = ("year", "to", "award_class", "stage", "organisation_id", "subject", "text", "send_at")
_FLAGS = ("not_submitted", "extract_missing")
# Which field each refusal belongs beside.
_FIELD_OF: Mapping[str, str] = {
    "missing_year": "year",
    "unknown_year": "year",
    "invalid_audience": "to",
    "invalid_class": "award_class",
    "invalid_stage": "stage",
    "unknown_organisation": "organisation_id",
    "missing_subject": "subject",
    "invalid_subject": "subject",
    "missing_text": "text",
    "text_too_long": "text",
    "invalid_text": "text",
    "unknown_placeholder": "text",
    "invalid_time": "send_at",
    "time_passed": "send_at",
    "time_too_far": "send_at",
}


def _values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: form_text(form, name, MAX_TEXT + 1) for name in _FIELDS}
    values.update({name: bool(form.get(name)) for name in _FLAGS})
    return values


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 9 else None


def _request(values: Mapping[str, Any]) -> service.GroupRequest:
    """The request the form asks for; what cannot be read is refused beside its field."""
    reasons = []
    send_at = None
    if values["send_at"]:
        try:  # a datetime-local field: Stockholm's wall clock
            send_at = datetime.fromisoformat(values["send_at"]).replace(tzinfo=STOCKHOLM)
        except ValueError:
            reasons.append(Reason("invalid_time", "Ange tiden som ÅÅÅÅ-MM-DD TT:MM."))
    if values["organisation_id"] and _number(values["organisation_id"]) is None:
        reasons.append(Reason("unknown_organisation", "Välj en organisation i listan."))
    if values["year"] and _number(values["year"]) is None:
        reasons.append(Reason("unknown_year", "Välj ett år i listan."))
    if reasons:
        raise InvalidInput(reasons)
    return service.GroupRequest(
        year=_number(values["year"]),
        audience=values["to"] or Audience.UNITS.value,
        award_class=values["award_class"] or None,
        stage=values["stage"] or None,
        organisation_id=_number(values["organisation_id"]),
        not_submitted=values["not_submitted"],
        extract_missing=values["extract_missing"],
        subject=values["subject"],
        text=values["text"],
        send_at=send_at,
    )


def _choices(session: Session) -> dict[str, Any]:
    organisations = session.exec(select(Organisation).order_by(col(Organisation.name))).all()
    return {
        "years": [(str(c.year), str(c.year)) for c in cycles(session, newest_first=True)],
        "classes": list(AWARD_CLASSES.items()),
        "stages": [(stage.value, label) for stage, label in STAGE_LABELS_SV.items()],
        "organisations": [(str(o.id), o.name) for o in organisations],
        "audiences": [(a.value, label) for a, label in AUDIENCE_LABELS_SV.items()],
        "placeholders": PLACEHOLDERS,
        "max_subject": MAX_SUBJECT,
        "max_text": MAX_TEXT,
    }


def _form_page(
    request: Request,
    session: Session,
    user: WebUser,
    state: FormState,
    *,
    status: int = 200,
) -> HTMLResponse:
    context = {
        **_choices(session),
        "state": state,
        "sent": service.group_messages(session, user.actor, limit=50),
        "queued": request.query_params.get("queued", ""),
        "repeated": request.query_params.get("repeated") == "1",
    }
    return render(request, "group_messages.html", context, user=user, status=status)


def _refused(refusal: InvalidInput, values: dict[str, Any]) -> FormState:
    state = FormState(values=values)
    for reason in refusal.reasons:
        name = _FIELD_OF.get(reason.code)
        if name is None:
            state.general.append(reason.message)
        else:
            state.errors[name] = " ".join(filter(None, (state.errors.get(name), reason.message)))
    return state


@router.get("/admin/messages", response_class=HTMLResponse)
def group_message_form(request: Request) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
        newest = cycles(session, newest_first=True)
        values: dict[str, Any] = {"to": Audience.UNITS.value}
        if newest:
            values["year"] = str(newest[0].year)
        return _form_page(request, session, user, FormState(values=values))


@router.post("/admin/messages/edit", response_class=HTMLResponse)
def group_message_again(request: Request, form: FormDep) -> Response:
    """Back from the preview to the form, with everything as it was written."""
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
        return _form_page(request, session, user, FormState(values=_values(form)))


@router.post("/admin/messages/preview", response_class=HTMLResponse)
def group_message_preview(request: Request, form: FormDep) -> Response:
    values = _values(form)
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
        try:
            preview = service.preview_group_message(
                session, user.actor, _request(values), now=now()
            )
        except InvalidInput as refusal:
            return _form_page(request, session, user, _refused(refusal, values), status=422)
        context = {
            **_choices(session),
            "values": values,
            "preview": preview,
            "shown": preview["recipients"][:SHOWN_RECIPIENTS],
            "token": secrets.token_urlsafe(18),
            "audience_label": AUDIENCE_LABELS_SV[Audience(preview["filter"]["audience"])],
            "send_at_label": (
                datetime.fromisoformat(preview["send_at"])
                .astimezone(STOCKHOLM)
                .strftime("%Y-%m-%d %H:%M")
                if preview["send_at"]
                else None
            ),
        }
        return render(request, "group_message_preview.html", context, user=user)


@router.post("/admin/messages", response_class=HTMLResponse)
def group_message_send(request: Request, form: FormDep) -> Response:
    values = _values(form)
    token = form_text(form, "idempotency_token", 100)
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
        try:
            sent = service.send_group_message(
                session, user.actor, _request(values), idempotency_key=token or None, now=now()
            )
        except InvalidInput as refusal:
            return _form_page(request, session, user, _refused(refusal, values), status=422)
    repeated = "&repeated=1" if sent.repeated else ""
    return RedirectResponse(f"/admin/messages?queued={sent.queued}{repeated}", status_code=303)
