"""The examiner's own assessment form (`/entries/{id}/assessment`) and the lead's consensus
form (`/entries/{id}/consensus`, with the spread of the individual scores beside each
criterion). The admin reads both and may reopen a submitted assessment. A refusal is the form
again with the reasons and what was typed, never a 500."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from workflow import db
from workflow.domain import examination as rules
from workflow.domain.access import Role
from workflow.domain.errors import Conflict, InvalidInput, WorkflowError
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.http.problems import status_for
from workflow.entrypoints.web.pages import Id, WebUser, render
from workflow.entrypoints.web.session import FormDep, authorised_user, current_user, form_text
from workflow.models import Unit
from workflow.services import assessments, consensus
from workflow.services.assessments import Examination

router = APIRouter(include_in_schema=False)


def _criteria_from(form: FormData, exam: Examination) -> dict[str, dict[str, str]]:
    return {
        str(c.id): {
            "score": form_text(form, f"score_{c.id}", 10),
            "strengths": form_text(form, f"strengths_{c.id}", rules.MAX_TEXT + 1),
            "development_areas": form_text(form, f"development_{c.id}", rules.MAX_TEXT + 1),
        }
        for c in exam.criteria
    }


def _base(exam: Examination, user: WebUser) -> dict[str, Any]:
    with db.transaction() as session:
        unit = session.get(Unit, exam.entry.unit_id)
    return {
        "entry": exam.entry,
        "unit": unit,
        "criteria": exam.criteria,
        "scale": exam.scale,
        "team": exam.team,
        "is_admin": user.is_admin,
        "errors": [],
    }


# --- the examiner's own assessment --------------------------------------------------------


def _assessment_page(
    request: Request, user: WebUser, entry_id: int, error: WorkflowError | None, typed: Any
) -> Response:
    with db.transaction() as session:
        exam = assessments.load(session, user.actor, entry_id)
        visible = assessments.visible_assessments(session, exam, user.actor)
    own = exam.assessments.get(user.actor.user_id)
    values = typed or {
        "criteria": own.criteria if own else {},
        "site_visit_on": own.site_visit_on.isoformat() if own and own.site_visit_on else "",
        "interviews": own.interviews if own else {},
    }
    context = _base(exam, user) | {
        "own": own,
        "values": values,
        "others": [(name, row) for name, row in visible if row is not own],
        "may_write": user.actor.role == Role.EXAMINER and exam.member(user.actor.user_id),
        "errors": [r.message for r in error.reasons] if error else [],
    }
    status = status_for(error) if error else 200
    return render(request, "examination_assessment.html", context, user=user, status=status)


@router.get("/entries/{entry_id}/assessment", response_class=HTMLResponse)
def assessment_page(request: Request, entry_id: Id) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
    return _assessment_page(request, user, entry_id, None, None)


@router.post("/entries/{entry_id}/assessment", response_class=HTMLResponse)
def assessment_submit(request: Request, entry_id: Id, form: FormDep) -> Response:
    user = authorised_user(request, form)
    submit = form_text(form, "action", 10) == "submit"
    with db.transaction() as session:
        exam = assessments.load(session, user.actor, entry_id)
    body = {
        "criteria": _criteria_from(form, exam),
        "site_visit_on": form_text(form, "site_visit_on", 20),
        "interviews": {
            name: form_text(form, name, 200) for name in (*rules.INTERVIEW_GROUPS, "others_who")
        },
    }
    try:
        with db.transaction() as session:
            assessments.save_assessment(
                session, entry_id=entry_id, body=body, acting=user.actor, now=now(), submit=submit
            )
    except (InvalidInput, Conflict) as error:
        return _assessment_page(request, user, entry_id, error, body)
    done = "assessment" if submit else "draft"
    return RedirectResponse(f"/entries/{entry_id}/assessment?ok={done}", status_code=303)


@router.post("/entries/{entry_id}/assessments/{examiner_id}/reopen", response_class=HTMLResponse)
def reopen_submit(request: Request, entry_id: Id, examiner_id: Id, form: FormDep) -> Response:
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            assessments.reopen_assessment(
                session, entry_id=entry_id, examiner_id=examiner_id,
                note=form_text(form, "note", 2000), acting=user.actor, now=now(),
            )  # fmt: skip
    except (InvalidInput, Conflict) as error:
        return _consensus_page(request, user, entry_id, error, None)
    return RedirectResponse(f"/entries/{entry_id}/consensus?ok=reopened", status_code=303)


# --- the lead's consensus -----------------------------------------------------------------


def _consensus_page(
    request: Request, user: WebUser, entry_id: int, error: WorkflowError | None, typed: Any
) -> Response:
    with db.transaction() as session:
        exam = assessments.load(session, user.actor, entry_id)
        visible = assessments.visible_assessments(session, exam, user.actor)
    row = exam.consensus
    values = typed or {
        "criteria": row.criteria if row else {},
        "summary": row.summary if row else "",
    }
    refusals = consensus.write_refusals(exam, user.actor)
    context = _base(exam, user) | {
        "consensus": row,
        "values": values,
        "spread": consensus.spreads(exam),
        "assessments": visible,
        "statuses": dict(zip([m.user_id for m in exam.team], exam.statuses, strict=True)),
        "may_write": not refusals,
        "why_not": [r.message for r in refusals],
        "errors": [r.message for r in error.reasons] if error else [],
    }
    status = status_for(error) if error else 200
    return render(request, "examination_consensus.html", context, user=user, status=status)


@router.get("/entries/{entry_id}/consensus", response_class=HTMLResponse)
def consensus_page(request: Request, entry_id: Id) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
    return _consensus_page(request, user, entry_id, None, None)


@router.post("/entries/{entry_id}/consensus", response_class=HTMLResponse)
def consensus_submit(request: Request, entry_id: Id, form: FormDep) -> Response:
    user = authorised_user(request, form)
    submit = form_text(form, "action", 10) == "submit"
    with db.transaction() as session:
        exam = assessments.load(session, user.actor, entry_id)
    body = {
        "criteria": _criteria_from(form, exam),
        "summary": form_text(form, "summary", rules.MAX_TEXT + 1),
    }
    try:
        with db.transaction() as session:
            consensus.save_consensus(
                session, entry_id=entry_id, body=body, acting=user.actor, now=now(), submit=submit
            )
    except (InvalidInput, Conflict) as error:
        return _consensus_page(request, user, entry_id, error, body)
    if submit:
        return RedirectResponse(f"/entries/{entry_id}?ok=consensus", status_code=303)
    return RedirectResponse(f"/entries/{entry_id}/consensus?ok=draft", status_code=303)
