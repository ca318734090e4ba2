"""The outbox pages' controls (admin): one message as it will be sent, with a form to edit
it; hold, release and cancel one message, or many by filter."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from workflow import db
from workflow.domain.errors import Forbidden, InvalidInput, Reason, refusal
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.web.pages import Id, WebUser, render
from workflow.entrypoints.web.session import (
    FormDep,
    check_csrf,
    current_user,
    form_text,
    safe_next,
)
from workflow.entrypoints.web.words import STATUS_LABELS
from workflow.outbox.control import (
    ACTIONS,
    MAX_SUBJECT,
    MAX_TEXT,
    MessageFilter,
    act_on_messages,
    edit_message,
)
from workflow.outbox.preview import message_detail
from workflow.queries.registry import cycles

router = APIRouter(include_in_schema=False)

ACTION_LABELS = {
    "hold": "Pausa",
    "release": "Släpp",
    "cancel": "Stoppa",
    "retry": "Skicka igen",
}
DONE_NOTICES = {"hold": "held", "release": "released", "cancel": "cancelled", "retry": "retried"}
EDITABLE = ("queued", "held")


def _admin(session: Any, request: Request, form: Any | None = None) -> WebUser:
    user = current_user(session, request)
    if form is not None:
        check_csrf(user, form)
    if not user.is_admin:
        raise refusal(Forbidden, "forbidden", "Endast administratörer styr utskicken.")
    return user


@router.get("/outbox/{message_id}", response_class=HTMLResponse)
def message_page(request: Request, message_id: Id) -> Response:
    with db.transaction() as session:
        user = _admin(session, request)
        detail = message_detail(session, message_id)
    return render(request, "outbox_message.html", _page(detail, {}), user=user)


def _page(detail: dict[str, Any], form: dict[str, Any], errors: Any = ()) -> dict[str, Any]:
    return {
        "m": detail,
        "editable": detail["status"] in EDITABLE,
        "form": {"subject": detail["subject"], "text": detail["text"], "note": "", **form},
        "errors": {r.code: r.message for r in errors},
        "max_subject": MAX_SUBJECT,
        "max_text": MAX_TEXT,
        "status_labels": STATUS_LABELS,
        "action_labels": ACTION_LABELS,
    }


@router.post("/outbox/{message_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, message_id: Id, form: FormDep) -> Response:
    subject = form_text(form, "subject", MAX_SUBJECT + 1)
    text = form_text(form, "text", MAX_TEXT + 1)
    note = form_text(form, "note", 2000) or None
    with db.transaction() as session:
        user = _admin(session, request, form)
        try:
            edit_message(
                session, message_id, subject=subject, body=text, actor=user.actor.name,
                now=now(), note=note,
            )  # fmt: skip
        except InvalidInput as refused:
            detail = message_detail(session, message_id)
            context = _page(detail, {"subject": subject, "text": text, "note": note or ""},
                            refused.reasons)  # fmt: skip
            return render(request, "outbox_message.html", context, user=user, status=422)
    return RedirectResponse(f"/outbox/{message_id}?ok=edited", status_code=303)


@router.post("/outbox/{message_id}/{action}", response_class=HTMLResponse)
def act_on_one(request: Request, message_id: Id, action: str, form: FormDep) -> Response:
    """Hold, release or cancel one message (retry has its own older route)."""
    if action not in DONE_NOTICES or action == "retry":
        raise refusal(InvalidInput, "unknown_action", f"Okänd åtgärd '{action}'.")
    with db.transaction() as session:
        user = _admin(session, request, form)
        act_on_messages(
            session, action, MessageFilter(ids=(message_id,)), actor=user.actor.name,
            now=now(), note=form_text(form, "note", 2000) or None,
        )  # fmt: skip
    back = safe_next(form_text(form, "back", 200)) if form.get("back") else "/outbox"
    separator = "&" if "?" in back else "?"
    notice = urlencode({"ok": DONE_NOTICES[action]})
    return RedirectResponse(f"{back}{separator}{notice}", status_code=303)


@router.post("/outbox", response_class=HTMLResponse)
def act_on_many(request: Request, form: FormDep) -> Response:
    """One action on every message matching the chosen status, kind and year."""
    action = form_text(form, "action", 20)
    status = form_text(form, "status", 20) or None
    kind = form_text(form, "kind", 60) or None
    year_text = form_text(form, "year", 4)
    with db.transaction() as session:
        user = _admin(session, request, form)
        reasons = []
        if action not in ACTIONS:
            reasons.append(Reason("unknown_action", "Välj vad som ska göras."))
        if year_text and not year_text.isdigit():
            reasons.append(Reason("invalid_year", "Välj ett år i listan."))
        if reasons:
            raise InvalidInput(reasons)
        wanted = MessageFilter(status=status, kind=kind, year=int(year_text) if year_text else None)
        result = act_on_messages(
            session, action, wanted, actor=user.actor.name, now=now(),
            note=form_text(form, "note", 2000) or None,
        )  # fmt: skip
        years = [c.year for c in cycles(session, newest_first=True)]
    context = {
        "result": result,
        "action_label": ACTION_LABELS[action],
        "conditions": {
            "status": STATUS_LABELS.get(status or "", ""),
            "kind": kind,
            "year": year_text,
        },
        "years": years,
    }
    return render(request, "outbox_result.html", context, user=user)
