"""Reading units from a CSV file in the browser: upload, see a preview of every unit that
will be created and every row that cannot be (by row number), then confirm: all rows or none.

Between preview and confirm the file travels back with the form, as its text in a hidden
field: no server-side store to expire or clean up, nothing to upload twice, and the confirm
re-reads and re-checks the text from scratch (the CSRF token guards the form as any other),
so what is stored is exactly what the rules accept at that moment.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from workflow import db, imports
from workflow.domain.errors import Conflict, InvalidInput, Reason
from workflow.entrypoints.web.pages import WebUser
from workflow.entrypoints.web.session import FormDep, check_csrf, check_same_origin
from workflow.entrypoints.web.setup_common import admin, setup_page
from workflow.models import Organisation
from workflow.services import unit_import

router = APIRouter(include_in_schema=False)
MAX_CSV_BYTES = 900 * 1024  # the confirm form carries the text back: it must fit in a form


@router.get("/admin/units/import", response_class=HTMLResponse)
def import_page(request: Request) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
    context: dict[str, Any] = {
        "preview": None,
        "reasons": [],
        "csv_text": "",
        "columns": _columns(),
    }
    return setup_page(request, "setup/import.html", context, user=user)


def _columns() -> dict[str, tuple[str, ...]]:
    return {"required": imports.REQUIRED_COLUMNS, "optional": imports.OPTIONAL_COLUMNS}


@router.post("/admin/units/import", response_class=HTMLResponse)
async def preview_import(request: Request) -> Response:
    check_same_origin(request)
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise StarletteHTTPException(411, "Begäran saknar uppgift om sin storlek.")
    if int(declared) > MAX_CSV_BYTES + 64 * 1024:
        return await run_in_threadpool(_refused, request, "Filen är för stor (högst 900 kB).")
    form = await request.form(max_files=1, max_fields=5)
    try:
        return await run_in_threadpool(_preview_upload, request, form)
    finally:
        await form.close()


def _refused(request: Request, message: str) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
    context = {
        "preview": None,
        "reasons": [Reason("upload_refused", message)],
        "csv_text": "",
        "columns": _columns(),
    }
    return setup_page(request, "setup/import.html", context, user=user, status=413)


def _preview_upload(request: Request, form: FormData) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
    check_csrf(user, form)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, user, "", [Reason("missing_file", "Välj en CSV-fil.")], None)
    raw = upload.file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        return _refused(request, "Filen är för stor (högst 900 kB).")
    try:
        text = imports.decode_csv(raw)
    except InvalidInput as error:
        return _page(request, user, "", list(error.reasons), None)
    return _preview(request, user, text)


def _preview(request: Request, user: WebUser, text: str) -> Response:
    with db.transaction() as session:
        try:
            specs, reasons = imports.read_units_csv(
                text, organisation_ids_by_name=_organisation_ids(session)
            )
        except InvalidInput as error:
            return _page(request, user, "", list(error.reasons), None)
        reasons += unit_import.import_reasons(session, specs)
        if not specs and not reasons:
            reasons.append(Reason("empty_file", "Filen innehåller inga enheter."))
        names = {o.id: o.name for o in session.exec(select(Organisation)).all()}
    rows = [
        {"row": row, "spec": spec, "organisation": names.get(spec.organisation_id, "?")}
        for row, spec in specs
    ]
    return _page(request, user, text, reasons, rows)


def _organisation_ids(session: Session) -> dict[str, int]:
    return {o.name: o.id or 0 for o in session.exec(select(Organisation)).all()}


def _page(
    request: Request,
    user: WebUser,
    text: str,
    reasons: list[Reason],
    rows: list[dict[str, Any]] | None,
) -> Response:
    context = {
        "preview": rows,
        "reasons": reasons,
        "csv_text": text if rows and not reasons else "",
        "columns": _columns(),
    }
    return setup_page(
        request, "setup/import.html", context, user=user, status=422 if reasons else 200
    )


@router.post("/admin/units/import/confirm", response_class=HTMLResponse)
def confirm_import(request: Request, form: FormDep) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
    check_csrf(user, form)
    text = form.get("csv_text")
    text = text if isinstance(text, str) else ""
    try:
        with db.transaction() as session:
            specs = imports.parse_units_csv(
                text, organisation_ids_by_name=_organisation_ids(session)
            )
            unit_import.import_units(session, specs)
    except (InvalidInput, Conflict):
        return _preview(request, user, text)  # shows what is wrong now, nothing stored
    return RedirectResponse("/admin/units?ok=imported", status_code=303)
