"""The HTTP API under /api/v1: parse, authorise, call one service in one transaction, map errors.

Every call needs `Authorization: Bearer TOKEN`; roles are checked through
`workflow.domain.access`. Refusals are JSON `{"detail", "reasons": [{"code", "message"}]}`
(`problems`); the transaction of a request commits before its response is sent (`deps`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from workflow import auth, outbox, services
from workflow.domain.access import Role
from workflow.domain.errors import Forbidden, refusal
from workflow.domain.rules import EARLIEST_YEAR, LATEST_YEAR
from workflow.domain.stages import upload_stage
from workflow.entrypoints.http import paging, schemas
from workflow.entrypoints.http.deps import (
    TokenDep,
    authorised,
    entry_scope,
    not_found,
    now,
    require,
    rows_of_change,
)
from workflow.entrypoints.http.limits import MAX_UPLOAD_BYTES
from workflow.entrypoints.http.problems import PayloadTooLarge, documented
from workflow.entrypoints.http.schemas import MAX_ID
from workflow.models import Cycle, Organisation, Unit
from workflow.queries import entries as entry_queries
from workflow.queries import registry
from workflow.services import corrections, extensions
from workflow.services.registry import Created

router = APIRouter(prefix="/api/v1", responses=documented(400, 401, 403, 404, 409, 413, 422))


@router.post("/cycles", status_code=201, response_model=schemas.CyclePublic)
def create_cycle(body: schemas.CycleCreate, token: TokenDep) -> Cycle:
    with authorised(token) as (session, actor):
        require(actor)
        extra: dict[str, Any] = {}
        if body.award_office_email:
            extra["award_office_email"] = body.award_office_email
        return services.create_cycle(
            session,
            year=body.year,
            contribution_deadline=body.contribution_deadline,
            extract_deadline=body.extract_deadline,
            winners_date=body.winners_date,
            classes=body.classes,
            ceremony_starts_at=body.ceremony_starts_at,
            ceremony_ends_at=body.ceremony_ends_at,
            budget_rule=body.budget_rule,
            prize_amount=body.prize_amount,
            created=Created(actor.name, now()),
            **extra,
        )


@router.get("/cycles", response_model=list[schemas.CyclePublic])
def list_cycles(token: TokenDep) -> list[Cycle]:
    with authorised(token) as (session, _):
        return registry.cycles(session)


@router.post("/organisations", status_code=201, response_model=schemas.OrganisationPublic)
def create_organisation(body: schemas.OrganisationCreate, token: TokenDep) -> Organisation:
    with authorised(token) as (session, actor):
        require(actor)
        return services.create_organisation(
            session,
            name=body.name,
            kind=body.kind,
            board=body.board,
            coordinator_email=body.coordinator_email,
            escalation_email=body.escalation_email,
            created=Created(actor.name, now()),
        )


@router.get("/organisations", response_model=list[schemas.OrganisationPublic])
def list_organisations(
    token: TokenDep,
    request: Request,
    response: Response,
    limit: paging.Limit = 100,
    after_id: paging.AfterId = None,
) -> list[Organisation]:
    """Organisations in id order, a page at a time (see `Link` and `X-Next-After-Id`)."""
    with authorised(token) as (session, actor):
        rows = registry.visible_organisations(session, actor, after_id=after_id, limit=limit + 1)
    return paging.one_page(rows, limit=limit, request=request, response=response)


@router.post("/units", status_code=201, response_model=schemas.UnitPublic)
def create_unit(body: schemas.UnitCreate, token: TokenDep) -> Unit:
    with authorised(token) as (session, actor):
        require(actor, Role.COORDINATOR)
        if actor.role == Role.COORDINATOR and body.organisation_id != actor.organisation_id:
            raise refusal(
                Forbidden,
                "forbidden",
                "Du kan bara registrera enheter i din egen organisation.",
            )
        return services.create_unit(
            session,
            services.UnitCreate(
                **body.model_dump(exclude={"earlier_participation_years"}),
                earlier_participation_years=tuple(body.earlier_participation_years),
            ),
            created=Created(actor.name, now()),
        )


@router.get("/units", response_model=list[schemas.UnitPublic])
def list_units(
    token: TokenDep,
    request: Request,
    response: Response,
    limit: paging.Limit = 100,
    after_id: paging.AfterId = None,
) -> list[Unit]:
    """Units in id order, a page at a time (see `Link` and `X-Next-After-Id`)."""
    with authorised(token) as (session, actor):
        rows = registry.visible_units(session, actor, after_id=after_id, limit=limit + 1)
    return paging.one_page(rows, limit=limit, request=request, response=response)


@router.post("/entries", status_code=201, response_model=schemas.EntryPublic)
def create_entry(body: schemas.EntryCreate, token: TokenDep) -> JSONResponse:
    with authorised(token) as (session, actor):
        entry = services.create_entry(
            session,
            unit_id=body.unit_id,
            year=body.year,
            award_class=body.award_class,
            actor=actor.name,
            now=now(),
            acting=actor,
        )
        view = entry_queries.entry_view(session, entry.id or 0)
        return JSONResponse(status_code=201, content=view)


@router.get("/entries", response_model=list[schemas.EntryPublic])
def list_entries(
    token: TokenDep,
    request: Request,
    response: Response,
    year: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    stage: Annotated[schemas.StageName | None, Query()] = None,
    organisation_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: paging.Limit = 100,
    after_id: paging.AfterId = None,
) -> list[dict[str, Any]]:
    """Entries in id order, a page at a time: while there are more, the `Link` header names
    the next page (rel="next") and `X-Next-After-Id` the `after_id` that fetches it."""
    with authorised(token) as (session, actor):
        rows = entry_queries.entry_views(
            session,
            stage=stage,
            year=year,
            organisation_id=organisation_id,
            visible=auth.visible_entries(actor),
            after_id=after_id,
            limit=limit + 1,
        )
    return paging.one_page(
        rows, limit=limit, request=request, response=response, id_of=lambda v: v["id"]
    )


@router.get("/entries/{entry_id}", response_model=schemas.EntryPublic)
def get_entry(entry_id: int, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        entry_scope(session, actor, entry_id)
        return entry_queries.entry_view(session, entry_id)


@router.post("/entries/{entry_id}/transitions", response_model=schemas.EntryPublic)
def transition(entry_id: int, body: schemas.TransitionRequest, token: TokenDep) -> JSONResponse:
    with authorised(token) as (session, actor):
        entry = services.advance_entry(
            session,
            entry_id=entry_id,
            target=body.to,
            version=body.version,
            actor=actor.name,
            now=now(),
            note=body.note,
            data={k: "" if v is None else str(v) for k, v in body.data.items()},
            acting=actor,
        )
        changed = rows_of_change(session, entry)
    return JSONResponse(content=entry_queries.view_of(*changed))


@router.post("/entries/{entry_id}/site-visit", response_model=schemas.EntryPublic)
def book_site_visit(entry_id: int, body: schemas.SiteVisitRequest, token: TokenDep) -> JSONResponse:
    """Book the examiners' site visit on a submitted entry (examiner or admin); the unit is
    told by e-mail, and the version moves on like for any change."""
    with authorised(token) as (session, actor):
        entry = services.schedule_site_visit(
            session,
            entry_id=entry_id,
            version=body.version,
            on=body.site_visit_on,
            actor=actor.name,
            now=now(),
            note=body.note,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            acting=actor,
        )
        changed = rows_of_change(session, entry)
    return JSONResponse(content=entry_queries.view_of(*changed))


@router.post("/entries/{entry_id}/extensions", status_code=201, response_model=schemas.EntryPublic)
def extend_deadline(entry_id: int, body: schemas.ExtensionRequest, token: TokenDep) -> JSONResponse:
    """Give the entry more time for its contribution or its minutes extract (the award
    office). Its pending reminders are planned again against the new date; a date not after
    the cycle's own, or not before the winners' day, is refused with a reason."""
    with authorised(token) as (session, actor):
        entry = extensions.extend_deadline(
            session,
            entry_id=entry_id,
            deadline=body.deadline,
            until=body.until,
            note=body.note,
            version=body.version,
            actor=actor.name,
            now=now(),
            acting=actor,
        )
        changed = rows_of_change(session, entry)
    return JSONResponse(status_code=201, content=entry_queries.view_of(*changed))


@router.patch("/entries/{entry_id}", response_model=schemas.EntryPublic)
def correct_entry(entry_id: int, body: schemas.EntryCorrection, token: TokenDep) -> JSONResponse:
    """Correct what was recorded about the entry (its class until it is examined, its case
    number, data of a stage already recorded); `note` says why, `version` is compare-and-set
    (409 when stale). The history keeps who, when, old → new and why."""
    with authorised(token) as (session, actor):
        entry = corrections.correct_entry(
            session,
            entry_id=entry_id,
            version=body.version,
            note=body.note,
            actor=actor.name,
            now=now(),
            award_class=body.award_class,
            case_number=body.case_number or None,
            clear_case_number=body.case_number == "",
            facts=body.facts,
            acting=actor,
        )
        changed = rows_of_change(session, entry)
    return JSONResponse(content=entry_queries.view_of(*changed))


@router.put("/entries/{entry_id}/case-number", response_model=schemas.EntryPublic)
def set_case_number(
    entry_id: int, body: schemas.CaseNumberRequest, token: TokenDep
) -> JSONResponse:
    """File the entry under a diarienummer (admin, or the organisation's coordinator)."""
    with authorised(token) as (session, actor):
        entry = corrections.set_case_number(
            session,
            entry_id=entry_id,
            case_number=body.case_number,
            version=body.version,
            note=body.note,
            actor=actor.name,
            now=now(),
            acting=actor,
        )
        changed = rows_of_change(session, entry)
    return JSONResponse(content=entry_queries.view_of(*changed))


@router.put(
    "/organisations/{organisation_id}/board-report-case/{year}",
    response_model=schemas.BoardReportCasePublic,
)
def set_board_report_case(
    organisation_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    year: Annotated[int, Path(ge=EARLIEST_YEAR, le=LATEST_YEAR)],
    body: schemas.CaseNumberRequest,
    token: TokenDep,
) -> dict[str, Any]:
    """The diarienummer of the organisation's board report (tjänsteutlåtande) for `year`;
    the report's head then carries it. "" clears it."""
    with authorised(token) as (session, actor):
        row = corrections.set_board_report_case(
            session,
            organisation_id=organisation_id,
            year=year,
            case_number=body.case_number,
            actor=actor.name,
            now=now(),
            acting=actor,
        )
        return {
            "organisation_id": organisation_id,
            "year": year,
            "case_number": row.case_number if row is not None else None,
        }


@router.get("/entries/{entry_id}/history", response_model=list[schemas.HistoryEventPublic])
def history(entry_id: int, token: TokenDep) -> list[dict[str, Any]]:
    with authorised(token) as (session, actor):
        entry_scope(session, actor, entry_id)
        return entry_queries.entry_history(session, entry_id)


@router.post(
    "/entries/{entry_id}/examiners",
    status_code=201,
    response_model=schemas.ExaminerAssignmentPublic,
)
def assign_examiner(entry_id: int, body: schemas.ExaminerAssign, token: TokenDep) -> dict[str, int]:
    """Assign an examiner (admin); one from the entry's own organisation is a conflict of
    interest (jäv) and refused with 409."""
    with authorised(token) as (session, actor):
        require(actor)
        if not 1 <= entry_id <= MAX_ID:
            raise not_found("Posten", entry_id)
        assignment = services.assign_examiner(
            session, entry_id=entry_id, examiner_id=body.user_id, assigned_by=actor.name, now=now()
        )
        return {"entry_id": assignment.entry_id, "user_id": assignment.user_id}


@router.post(
    "/entries/{entry_id}/documents",
    status_code=201,
    response_model=schemas.DocumentPublic,
    responses=documented(413),
)
def upload_document(
    entry_id: int,
    file: Annotated[UploadFile, File()],
    token: TokenDep,
    kind: Annotated[Literal["extract", "contribution"], Form()] = "extract",
) -> dict[str, Any]:
    """Upload the minutes extract (`kind=extract`, a PDF) or the contribution; at most 20 MB."""
    with authorised(token) as (session, actor):
        # Refused before the body is read: nobody uploads 20 MB to learn they may not.
        services.check_move(session, actor, entry_id, upload_stage(kind))
        data = _read_limited(file)
        document = services.attach_document(
            session,
            entry_id=entry_id,
            kind=kind,
            filename=file.filename or "",
            data=data,
            actor=actor.name,
            now=now(),
        )
        return {"id": document.id, "filename": document.filename, "size": document.size}


def _read_limited(file: UploadFile) -> bytes:
    """The upload's bytes; 413 as soon as more than 20 MB have been read."""
    chunks: list[bytes] = []
    total = 0
    while chunk := file.file.read(1024 * 1024):
        total += len(chunk)
        if total > MAX_UPLOAD_BYTES:
            raise refusal(PayloadTooLarge, "too_large", "Filen är större än 20 MB.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/outbox", response_model=list[schemas.OutboxPublic])
def list_outbox(
    token: TokenDep,
    request: Request,
    response: Response,
    entry_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[schemas.OutboxStatus | None, Query()] = None,
    limit: paging.Limit = 100,
    after_id: paging.AfterId = None,
) -> list[dict[str, Any]]:
    """Messages in id order, every status unless one is asked for, a page at a time (see
    `Link` and `X-Next-After-Id`)."""
    with authorised(token) as (session, actor):
        visible = auth.visible_entry_ids(session, actor)
        if entry_id is not None and visible is not None and entry_id not in visible:
            return []
        rows = outbox.outbox_views(
            session,
            status=status,
            entry_id=entry_id,
            entry_ids=None if visible is None else sorted(visible),
            after_id=after_id,
            limit=limit + 1,
            with_subject=True,
        )
    return paging.one_page(
        rows, limit=limit, request=request, response=response, id_of=lambda v: v["id"]
    )


@router.post("/outbox/{message_id}/retry", response_model=schemas.OutboxPublic)
def retry_outbox(message_id: int, token: TokenDep) -> JSONResponse:
    with authorised(token) as (session, actor):
        require(actor)
        if not 1 <= message_id <= MAX_ID:
            raise not_found("Meddelandet", message_id)
        message = services.retry_message(session, message_id, now=now())
        views = outbox.outbox_views(session, message_ids=[message.id or 0], with_subject=True)
        return JSONResponse(content={**views[0], "internet_message_id": views[0]["message_id"]})
