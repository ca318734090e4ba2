"""The forms of the entry page: move the entry, book the site visit, assign an examiner,
upload a document. Each POST is one transaction; a refusal is the entry page again with the
reason next to its form (or a 403 page), never a lost text."""

from __future__ import annotations

from datetime import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from workflow import db, services
from workflow.domain.corrections import MAX_NOTE_LENGTH, note_reasons
from workflow.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Reason,
    StaleVersion,
    TransitionRefused,
    WorkflowError,
    refusal,
)
from workflow.domain.rules import parse_date
from workflow.domain.stages import upload_stage
from workflow.entrypoints.http.deps import (
    entry_scope,
    now,
)
from workflow.entrypoints.http.problems import PayloadTooLarge
from workflow.entrypoints.web.entry_page import (
    FormProblem,
    entry_context,
    entry_problem_page,
    stale_page,
    typed_values,
)
from workflow.entrypoints.web.pages import Id, WebUser, error_page, render
from workflow.entrypoints.web.session import (
    FormDep,
    authorised_user,
    check_same_origin,
    clean_text,
    current_user,
    form_text,
)
from workflow.services import corrections, extensions

# A multipart body carries a little more than the file; beyond this it cannot be a valid one.
UPLOAD_ENVELOPE_BYTES = 256 * 1024

router = APIRouter(include_in_schema=False)


@router.post("/entries/{entry_id}/transition", response_class=HTMLResponse)
def transition(request: Request, entry_id: Id, form: FormDep) -> Response:
    """Move the entry (form fields: to, version, note, data_<field>)."""
    values = typed_values(form)
    target_value = form_text(form, "to", 50)
    form_id = f"transition-{target_value}"
    note = _whole_text(form, "note") or None
    data = {
        key.removeprefix("data_"): clean_text(value)
        for key, value in values.items()
        if key.startswith("data_")
    }
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            _refuse_long_texts(note, data)
            services.advance_entry(
                session,
                entry_id=entry_id,
                target=target_value,
                version=_version(form),
                actor=user.actor.name,
                now=now(),
                note=note,
                data=data,
                acting=user.actor,
            )
    except StaleVersion:
        return stale_page(request, user, entry_id, form_id, values)
    except Forbidden as error:
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    except (InvalidInput, TransitionRefused) as error:
        return entry_problem_page(request, user, entry_id, error, form_id, values)
    return _saved(entry_id, "moved")


def _saved(entry_id: int, what: str) -> RedirectResponse:
    """Back to the entry, with the confirmation and the stage it is now in at the top (the
    page's `#bekraftelse`), not scrolled away to the timeline."""
    return RedirectResponse(f"/entries/{entry_id}?ok={what}#bekraftelse", status_code=303)


def _whole_text(form: FormData, name: str) -> str:
    """A free text as typed (without control characters), never cut: one over the limit is
    refused with its length (see `_refuse_long_texts`)."""
    value = form.get(name)
    return clean_text(value) if isinstance(value, str) else ""


def _refuse_long_texts(note: str | None, data: dict[str, str] | None = None) -> None:
    reasons = list(note_reasons(note, required=False))
    for name, value in (data or {}).items():
        if len(value) > MAX_NOTE_LENGTH:
            reasons.append(
                Reason(
                    "text_too_long",
                    f"Texten i fältet '{name}' är {len(value)} tecken lång; högst "
                    f"{MAX_NOTE_LENGTH} tecken får plats. Korta den och skicka igen.",
                )
            )
    if reasons:
        raise InvalidInput(reasons)


def _version(form: FormData) -> int:
    raw = form_text(form, "version", 20)
    if not raw.isdigit() or len(raw) > 9:
        raise refusal(InvalidInput, "invalid_version", "Formuläret saknar postens version.")
    return int(raw)


def _clock_time(form: FormData, name: str, label: str) -> time | None:
    """An HH:MM field (a browser's time input); empty means the default."""
    raw = form_text(form, name, 10)
    if not raw:
        return None
    try:
        value = time.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is not None:
        raise refusal(InvalidInput, "invalid_time", f"{label}: ange tiden som TT:MM, t.ex. 13:00.")
    return value


@router.post("/entries/{entry_id}/site-visit", response_class=HTMLResponse)
def book_site_visit(request: Request, entry_id: Id, form: FormDep) -> Response:
    """Book the examiners' site visit (platsbesök) on a submitted entry."""
    values = typed_values(form)
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            day = parse_date(form_text(form, "site_visit_on", 40))
            if day is None:
                raise refusal(
                    InvalidInput, "invalid_date", "Ange platsbesökets datum som ÅÅÅÅ-MM-DD."
                )
            note = _whole_text(form, "note") or None
            _refuse_long_texts(note)
            services.schedule_site_visit(
                session,
                entry_id=entry_id,
                version=_version(form),
                on=day,
                actor=user.actor.name,
                now=now(),
                note=note,
                starts_at=_clock_time(form, "starts_at", "Tiden då besöket börjar"),
                ends_at=_clock_time(form, "ends_at", "Tiden då besöket slutar"),
                acting=user.actor,
            )
    except StaleVersion:
        return stale_page(request, user, entry_id, "site-visit", values)
    except Forbidden as error:
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    except (InvalidInput, TransitionRefused) as error:
        return entry_problem_page(request, user, entry_id, error, "site-visit", values)
    return _saved(entry_id, "site_visit")


@router.post("/entries/{entry_id}/examiners", response_class=HTMLResponse)
def assign_examiner(request: Request, entry_id: Id, form: FormDep) -> Response:
    """Assign an examiner (admins); one from the entry's own organisation is refused (jäv)."""
    values = typed_values(form)
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            entry_scope(session, user.actor, entry_id)
            if not user.is_admin:
                raise refusal(
                    Forbidden, "forbidden", "Bara utmärkelsens kansli tilldelar examinatorer."
                )
            raw = form_text(form, "user_id", 20)
            if not raw.isdigit() or len(raw) > 9:
                raise refusal(InvalidInput, "missing_examiner", "Välj en examinator.")
            services.assign_examiner(
                session,
                entry_id=entry_id,
                examiner_id=int(raw),
                assigned_by=user.actor.name,
                now=now(),
            )
    except Forbidden as error:
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    except (InvalidInput, NotFound, Conflict) as error:
        return entry_problem_page(request, user, entry_id, error, "examiner", values)
    return RedirectResponse(f"/entries/{entry_id}?ok=examiner#examinatorer", status_code=303)


@router.post("/entries/{entry_id}/documents", response_class=HTMLResponse)
async def upload_document(request: Request, entry_id: Id) -> Response:
    """Upload the minutes extract (PDF) or the contribution; at most 20 MB."""
    check_same_origin(request)
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise StarletteHTTPException(411, "Begäran saknar uppgift om sin storlek.")
    if int(declared) > services.MAX_UPLOAD_BYTES + UPLOAD_ENVELOPE_BYTES:
        # Refused unread: a body this large cannot hold a file within the limit.
        return await run_in_threadpool(
            _upload_refused, request, entry_id, 413, "Filen är större än 20 MB."
        )
    form = await request.form(max_files=1, max_fields=10)
    try:
        return await run_in_threadpool(_store_upload, request, entry_id, form)
    finally:
        await form.close()


def _upload_refused(request: Request, entry_id: int, status: int, message: str) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        context = entry_context(
            session,
            user,
            entry_id,
            FormProblem("upload-", [Reason("upload_refused", message)], {}),
        )
    return render(request, "entry.html", context, user=user, status=status)


def _store_upload(request: Request, entry_id: int, form: FormData) -> Response:
    kind = form_text(form, "kind", 20)
    upload = form.get("file")
    values = {"kind": kind}
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            services.check_move(session, user.actor, entry_id, upload_stage(kind))
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise refusal(InvalidInput, "missing_file", "Välj en fil att ladda upp.")
            data = upload.file.read(services.MAX_UPLOAD_BYTES + 1)
            if len(data) > services.MAX_UPLOAD_BYTES:
                raise refusal(PayloadTooLarge, "too_large", "Filen är större än 20 MB.")
            services.attach_document(
                session,
                entry_id=entry_id,
                kind=kind,
                filename=upload.filename,
                data=data,
                actor=user.actor.name,
                now=now(),
            )
    except Forbidden as error:
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    except (InvalidInput, PayloadTooLarge) as error:
        return entry_problem_page(request, user, entry_id, error, f"upload-{kind}", values)
    return RedirectResponse(f"/entries/{entry_id}?ok=uploaded#dokument", status_code=303)


def _refused(
    request: Request,
    user: WebUser,
    entry_id: int,
    error: WorkflowError,
    form_id: str,
    values: dict[str, str],
) -> Response:
    """A refusal as a page: 403 on its own page, a stale version with the form kept, the
    rest beside the form that caused it."""
    if isinstance(error, Forbidden):
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    if isinstance(error, StaleVersion):
        return stale_page(request, user, entry_id, form_id, values)
    return entry_problem_page(request, user, entry_id, error, form_id, values)


@router.post("/entries/{entry_id}/extensions", response_class=HTMLResponse)
def extend_deadline(request: Request, entry_id: Id, form: FormDep) -> Response:
    """Give the entry more time (the award office): deadline, until, note, version."""
    values = typed_values(form)
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            until = parse_date(form_text(form, "until", 40))
            if until is None:
                raise refusal(InvalidInput, "invalid_date", "Ange det nya datumet som ÅÅÅÅ-MM-DD.")
            extensions.extend_deadline(
                session,
                entry_id=entry_id,
                deadline=form_text(form, "deadline", 50),
                until=until,
                note=_whole_text(form, "note"),
                version=_version(form),
                actor=user.actor.name,
                now=now(),
                acting=user.actor,
            )
    except (Forbidden, StaleVersion, InvalidInput, TransitionRefused) as error:
        return _refused(request, user, entry_id, error, "extension", values)
    return _saved(entry_id, "extended")


@router.post("/entries/{entry_id}/case-number", response_class=HTMLResponse)
def set_case_number(request: Request, entry_id: Id, form: FormDep) -> Response:
    """The entry's diarienummer (the award office or the organisation's coordinator)."""
    values = typed_values(form)
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            corrections.set_case_number(
                session,
                entry_id=entry_id,
                case_number=_whole_text(form, "case_number"),
                version=_version(form),
                actor=user.actor.name,
                now=now(),
                acting=user.actor,
            )
    except (Forbidden, StaleVersion, InvalidInput) as error:
        return _refused(request, user, entry_id, error, "case-number", values)
    return _saved(entry_id, "case_number")


@router.post("/entries/{entry_id}/corrections", response_class=HTMLResponse)
def correct_entry(request: Request, entry_id: Id, form: FormDep) -> Response:
    """ "Rätta uppgifter": the class and the recorded data (fact_<stage>__<field>), with why."""
    values = typed_values(form)
    user = authorised_user(request, form)
    facts: dict[str, dict[str, str]] = {}
    for key, value in values.items():
        stage, _, field = key.removeprefix("fact_").partition("__")
        if key.startswith("fact_") and field:
            facts.setdefault(stage, {})[field] = clean_text(value)
    try:
        with db.transaction() as session:
            note = _whole_text(form, "note")
            _refuse_long_texts(None, {k: v for d in facts.values() for k, v in d.items()})
            corrections.correct_entry(
                session,
                entry_id=entry_id,
                version=_version(form),
                note=note,
                actor=user.actor.name,
                now=now(),
                award_class=form_text(form, "award_class", 50) or None,
                facts=facts,
                acting=user.actor,
            )
    except (Forbidden, StaleVersion, InvalidInput, TransitionRefused) as error:
        return _refused(request, user, entry_id, error, "correction", values)
    return _saved(entry_id, "corrected")
