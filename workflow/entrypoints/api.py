"""The HTTP API under /api/v1: parse, authorise, call one service in one transaction, map errors.

Every call needs `Authorization: Bearer TOKEN`; roles are checked through
`workflow.domain.access`. Refusals are JSON `{"detail", "reasons": [{"code", "message"}]}`.

The transaction of a request commits when its endpoint returns and *before* the response is
sent (`authorised`, and `Depends(..., scope="function")` for routers that use `SessionDep`):
a client that has its 200 can read its own write at once, and a commit that fails is a
refusal, never a 200 for a change that did not happen.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import re
import threading
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import Session, col, select
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow import auth, db, outbox, services
from workflow.domain.access import NOTIFIERS, Actor, EntryScope, Role, can_see, may_move
from workflow.domain.errors import (
    Conflict,
    Ineligible,
    InvalidInput,
    NotFound,
    Reason,
    StaleVersion,
    TransitionRefused,
    WorkflowError,
    refusal,
)
from workflow.domain.stages import Stage
from workflow.entrypoints import schemas
from workflow.models import Cycle, Entry, Organisation, OutboxMessage, Unit
from workflow.settings import get_settings

log = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[WorkflowError], int], ...] = (
    (auth.Unauthenticated, 401),
    (auth.Forbidden, 403),
    (auth.TooManyAttempts, 429),
    (NotFound, 404),
    (StaleVersion, 409),
    (Conflict, 409),
    (InvalidInput, 422),
    (TransitionRefused, 422),
    (Ineligible, 422),
)
MAX_UPLOAD_BYTES = services.MAX_UPLOAD_BYTES
# A JSON request is a few kilobytes; refuse anything far larger before parsing it.
MAX_JSON_BODY_BYTES = 1024 * 1024
# An upload is read whole and then measured (so a file just over 20 MB gets a 413 with its
# reason); a body far beyond that is refused by the server before it is read at all.
MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024
MAX_ID = schemas.MAX_ID
SQLITE_WRITE_TIMEOUT = 30.0  # as long as the busy timeout `make_engine` sets


class PayloadTooLarge(WorkflowError):
    """The upload is larger than 20 MB."""


def status_for(error: WorkflowError) -> int:
    if isinstance(error, PayloadTooLarge):
        return 413
    return next((status for kind, status in STATUS_BY_ERROR if isinstance(error, kind)), 400)


def problem(
    status: int,
    reasons: tuple[Reason, ...] | list[Reason],
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(
        status_code=status,
        content={
            "detail": " ".join(r.message for r in reasons),
            "reasons": [r.as_dict() for r in reasons],
        },
        headers=headers or None,
    )


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "The body could not be parsed.",
        401: "No valid bearer token.",
        403: "The role may not do this (the reason says why).",
        404: "No such id, or one the caller may not see.",
        409: "Stale version or a duplicate; nothing was changed.",
        413: "The body is larger than 1 MB, or the upload than 20 MB.",
        422: "Invalid fields, or the transition table, a guard or a rule refused.",
    }
    return {
        status: {"model": schemas.Problem, "description": descriptions[status]}
        for status in statuses
    }


def now() -> datetime:
    return datetime.now(UTC)


# --- dependencies ----------------------------------------------------------------------------


def get_session() -> Iterator[Session]:
    with db.transaction() as session:
        yield session


# scope="function": the session commits (or rolls back) when the endpoint returns, before the
# response goes out, so a 200 always means committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
_bearer = HTTPBearer(auto_error=False)


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token, or 401 at once (no database needed to refuse a missing one)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise refusal(auth.Unauthenticated, "unauthenticated", "Ange Authorization: Bearer TOKEN.")
    if schemas.storable_text_problem(credentials.credentials) is not None:
        raise refusal(auth.Unauthenticated, "unauthenticated", "Ogiltig eller saknad token.")
    return credentials.credentials


TokenDep = Annotated[str, Depends(bearer_token)]


def get_actor(session: SessionDep, token: TokenDep) -> Actor:
    return auth.authenticate_token(session, token)


ActorDep = Annotated[Actor, Depends(get_actor)]


@contextmanager
def authorised(token: str) -> Iterator[tuple[Session, Actor]]:
    """One transaction for a whole request: who is asking, then what they do; it commits when
    the block ends, before the response is sent.

    The API's endpoints use this rather than `SessionDep` + `ActorDep` (kept for other
    routers): FastAPI runs every sync dependency, and a generator's exit, in a worker thread
    of its own, so that style costs four thread hand-offs per request where this costs one
    (a third less time per request over HTTP, measured on the transition endpoint)."""
    with db.transaction() as session:
        yield session, auth.authenticate_token(session, token)


def require(actor: Actor, *roles: Role) -> None:
    if actor.role != Role.ADMIN and actor.role not in roles:
        raise refusal(auth.Forbidden, "forbidden", "Din roll får inte göra detta.")


def _not_found(label: str, item_id: int) -> WorkflowError:
    return refusal(NotFound, "not_found", f"{label} med id {item_id} finns inte.")


def entry_scope(session: Session, actor: Actor, entry_id: int) -> EntryScope:
    """What access rules need of the entry, or 404 — also for one the actor may not see, so
    nothing leaks (not even whether the id exists)."""
    scope = auth.scope_for(session, actor, entry_id) if 1 <= entry_id <= MAX_ID else None
    if scope is None or not can_see(actor, scope):
        raise _not_found("Posten", entry_id)
    return scope


def visible_entry(session: Session, actor: Actor, entry_id: int) -> Entry:
    """The entry itself, or 404 as in `entry_scope`."""
    entry_scope(session, actor, entry_id)
    entry = session.get(Entry, entry_id)
    if entry is None:  # deleted in between (entries are not deleted; be safe)
        raise _not_found("Posten", entry_id)
    return entry


def rows_of_change(session: Session, entry: Entry) -> tuple[Entry, Unit, Organisation, Cycle]:
    """The changed entry with its unit, organisation and cycle, taken from the rows the change
    itself loaded (the session's identity map: no SELECT). The caller builds the view from them
    after the commit: on SQLite a transaction that has written holds every other writer up
    until its COMMIT, so nothing else belongs in that stretch."""
    unit = session.get_one(Unit, entry.unit_id)
    return (
        entry,
        unit,
        session.get_one(Organisation, unit.organisation_id),
        session.get_one(Cycle, entry.cycle_id),
    )


def nudge() -> BackgroundTask | None:
    """After the response (and so after the commit), ask a worker to deliver now; nothing to
    do (and no worker thread to take) without a broker, where the worker's own schedule
    delivers."""
    if not get_settings().celery_broker_url:
        return None
    from tasks.nudge import nudge_outbox

    return BackgroundTask(nudge_outbox)


# --- the API ---------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1", responses=_documented(400, 401, 403, 404, 409, 413, 422))


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
            **extra,
        )


@router.get("/cycles", response_model=list[schemas.CyclePublic])
def list_cycles(token: TokenDep) -> list[Cycle]:
    with authorised(token) as (session, _):
        return list(session.exec(select(Cycle).order_by(col(Cycle.year))).all())


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
        )


@router.get("/organisations", response_model=list[schemas.OrganisationPublic])
def list_organisations(token: TokenDep) -> list[Organisation]:
    with authorised(token) as (session, actor):
        query = select(Organisation).order_by(col(Organisation.id))
        if actor.role != Role.ADMIN:
            query = query.where(Organisation.id == actor.organisation_id)
        return list(session.exec(query).all())


@router.post("/units", status_code=201, response_model=schemas.UnitPublic)
def create_unit(body: schemas.UnitCreate, token: TokenDep) -> Unit:
    with authorised(token) as (session, actor):
        require(actor, Role.COORDINATOR)
        if actor.role == Role.COORDINATOR and body.organisation_id != actor.organisation_id:
            raise refusal(
                auth.Forbidden,
                "forbidden",
                "Du kan bara registrera enheter i din egen organisation.",
            )
        return services.create_unit(
            session,
            services.UnitSpec(
                **body.model_dump(exclude={"earlier_participation_years"}),
                earlier_participation_years=tuple(body.earlier_participation_years),
            ),
        )


@router.get("/units", response_model=list[schemas.UnitPublic])
def list_units(token: TokenDep) -> list[Unit]:
    with authorised(token) as (session, actor):
        query = select(Unit).order_by(col(Unit.id))
        if actor.role == Role.UNIT_CONTACT:
            query = query.where(Unit.id == actor.unit_id)
        elif actor.role != Role.ADMIN:
            query = query.where(Unit.organisation_id == actor.organisation_id)
        return list(session.exec(query).all())


@router.post("/entries", status_code=201, response_model=schemas.EntryPublic)
def create_entry(body: schemas.EntryCreate, token: TokenDep) -> JSONResponse:
    with authorised(token) as (session, actor):
        if actor.role not in NOTIFIERS:
            raise refusal(auth.Forbidden, "forbidden", "Din roll får inte anmäla enheter.")
        unit = session.get(Unit, body.unit_id)
        if unit is None or (
            actor.role == Role.COORDINATOR and unit.organisation_id != actor.organisation_id
        ):
            raise _not_found("Enheten", body.unit_id)
        entry = services.create_entry(
            session,
            unit_id=body.unit_id,
            year=body.year,
            award_class=body.award_class,
            actor=actor.name,
            now=now(),
        )
        view = services.entry_view(session, entry.id or 0)
        return JSONResponse(status_code=201, content=view, background=nudge())


@router.get("/entries", response_model=list[schemas.EntryPublic])
def list_entries(
    token: TokenDep,
    request: Request,
    response: Response,
    year: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    stage: Annotated[str | None, Query(max_length=50)] = None,
    organisation_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[
        int, Query(ge=1, le=services.ENTRY_PAGE_MAX, description="Entries per page.")
    ] = 100,
    after_id: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="Continue after this id (see the Link header)."),
    ] = None,
) -> list[dict[str, Any]]:
    """Entries in id order, a page at a time: while there are more, the `Link` header names
    the next page (rel="next") and `X-Next-After-Id` the `after_id` that fetches it."""
    with authorised(token) as (session, actor):
        page = services.entry_views(
            session,
            stage=stage,
            year=year,
            organisation_id=organisation_id,
            visible=auth.visible_entries(actor),
            after_id=after_id,
            limit=limit + 1,  # one more tells whether a next page exists
        )
    if len(page) > limit:
        page = page[:limit]
        last = str(page[-1]["id"])
        following = request.url.include_query_params(after_id=last, limit=limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
        response.headers["X-Next-After-Id"] = last
    return page


@router.get("/entries/{entry_id}", response_model=schemas.EntryPublic)
def get_entry(entry_id: int, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        entry_scope(session, actor, entry_id)
        return services.entry_view(session, entry_id)


@router.post("/entries/{entry_id}/transitions", response_model=schemas.EntryPublic)
def transition(entry_id: int, body: schemas.TransitionRequest, token: TokenDep) -> JSONResponse:
    with authorised(token) as (session, actor):
        scope = entry_scope(session, actor, entry_id)
        target = services.parse_stage(body.to)
        reason = may_move(actor, scope, target)
        if reason is not None:
            raise auth.Forbidden((reason,))
        entry = services.advance_entry(
            session,
            entry_id=entry_id,
            target=target,
            version=body.version,
            actor=actor.name,
            now=now(),
            note=body.note,
            data={k: "" if v is None else str(v) for k, v in body.data.items()},
        )
        changed = rows_of_change(session, entry)
    return JSONResponse(content=services.view_of(*changed), background=nudge())


@router.post("/entries/{entry_id}/site-visit", response_model=schemas.EntryPublic)
def book_site_visit(entry_id: int, body: schemas.SiteVisitRequest, token: TokenDep) -> JSONResponse:
    """Book the examiners' site visit on a submitted entry (examiner or admin); the unit is
    told by e-mail, and the version moves on like for any change."""
    with authorised(token) as (session, actor):
        entry_scope(session, actor, entry_id)
        require(actor, Role.EXAMINER)
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
        )
        changed = rows_of_change(session, entry)
    return JSONResponse(content=services.view_of(*changed), background=nudge())


@router.get("/entries/{entry_id}/history", response_model=list[schemas.HistoryEventPublic])
def history(entry_id: int, token: TokenDep) -> list[dict[str, Any]]:
    with authorised(token) as (session, actor):
        entry_scope(session, actor, entry_id)
        return services.entry_history(session, entry_id)


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
            raise _not_found("Posten", entry_id)
        assignment = auth.assign_examiner(
            session, entry_id=entry_id, examiner_id=body.user_id, assigned_by=actor.name, now=now()
        )
        return {"entry_id": assignment.entry_id, "user_id": assignment.user_id}


@router.post(
    "/entries/{entry_id}/documents",
    status_code=201,
    response_model=schemas.DocumentPublic,
    responses=_documented(413),
)
def upload_document(
    entry_id: int,
    file: Annotated[UploadFile, File()],
    token: TokenDep,
    kind: Annotated[Literal["extract", "contribution"], Form()] = "extract",
) -> dict[str, Any]:
    """Upload the minutes extract (`kind=extract`, a PDF) or the contribution; at most 20 MB."""
    with authorised(token) as (session, actor):
        scope = entry_scope(session, actor, entry_id)
        target = Stage.EXTRACT_SENT if kind == "extract" else Stage.SUBMITTED
        reason = may_move(actor, scope, target)
        if reason is not None:
            raise auth.Forbidden((reason,))
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
    entry_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> list[dict[str, Any]]:
    with authorised(token) as (session, actor):
        visible = auth.visible_entry_ids(session, actor)
        if entry_id is not None and visible is not None and entry_id not in visible:
            return []
        views = outbox.outbox_views(session, status=status, entry_id=entry_id, with_subject=True)
        if visible is None:
            return views
        return [v for v in views if v["entry_id"] in visible]


@router.post("/outbox/{message_id}/retry", response_model=schemas.OutboxPublic)
def retry_outbox(message_id: int, token: TokenDep) -> JSONResponse:
    with authorised(token) as (session, actor):
        require(actor)
        if not 1 <= message_id <= MAX_ID:
            raise _not_found("Meddelandet", message_id)
        message = outbox.retry_message(session, message_id, now=now())
        views = outbox.outbox_views(session, message_ids=[message.id or 0], with_subject=True)
        return JSONResponse(content=views[0], background=nudge())


# --- error responses (module level, so other entrypoints can fall back on them) ---------------


async def workflow_error_response(request: Request, error: WorkflowError) -> JSONResponse:
    return problem(status_for(error), error.reasons)


async def invalid_request_response(request: Request, error: RequestValidationError) -> JSONResponse:
    reasons = [
        Reason(
            "invalid_field",
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}",
        )
        for e in error.errors()
    ]
    return problem(422, reasons)


async def http_error_response(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code = "too_large" if error.status_code == 413 else "http_error"
    return problem(error.status_code, [Reason(code, str(error.detail))], error.headers)


_UPLOAD_PATH = re.compile(r"/api/v1/entries/[^/]+/documents")


def body_limit_for(path: str) -> tuple[int, str] | None:
    """The most an API request may send, and what the refusal says; None off the API (the
    web pages check their own uploads and answer with a page)."""
    if not path.startswith("/api/"):
        return None
    if _UPLOAD_PATH.fullmatch(path):
        return MAX_UPLOAD_BODY_BYTES, "Filen är större än 20 MB."
    return MAX_JSON_BODY_BYTES, "Begäran är större än 1 MB."


class LimitApiBodies:
    """Refuses an API request body over its limit with the API's own 413 (a JSON problem),
    before reading it when its length is declared, else as soon as the limit is passed.
    (Starlette's `max_body_size` answers a declared one with plain text, whatever the app's
    handlers say, and covered only the routers that set it.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = body_limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        most, refusal_text = limit
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > most:
            await problem(413, [Reason("too_large", refusal_text)])(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > most:  # raised inside the route: the handler above answers it
                raise StarletteHTTPException(413, refusal_text)
            return message

        await self.app(scope, limited, send)


async def database_unavailable_response(request: Request, error: OperationalError) -> JSONResponse:
    """The database is down or stayed locked past its timeout: nothing was changed (the
    transaction rolled back), so the client may simply try again."""
    log.warning("database unavailable: %s", error)
    reason = Reason(
        "database_unavailable", "Databasen svarar inte just nu; försök igen om en stund."
    )
    return problem(503, [reason], {"Retry-After": "1"})


async def unstorable_value_response(request: Request, error: Exception) -> JSONResponse:
    """A value the database cannot hold (an integer beyond 64 bits on SQLite, beyond the
    column on PostgreSQL; a NUL in text): invalid input, and the transaction rolled back.
    The API's own models bound their fields so this does not happen; this is the net under
    routes that do not (yet)."""
    log.warning("value the database cannot store: %s", error)
    reason = Reason("invalid_value", "Ett värde är för stort eller innehåller otillåtna tecken.")
    return problem(422, [reason])


async def constraint_response(request: Request, error: IntegrityError) -> JSONResponse:
    """A unique or foreign-key constraint refused the change (a duplicate, a reference to
    something that does not exist); the transaction rolled back, nothing changed."""
    log.warning("constraint refused a change: %s", error.orig)
    reason = Reason(
        "constraint", "Ändringen krockar med befintliga uppgifter eller pekar på något som saknas."
    )
    return problem(409, [reason])


class SqliteWriteTurns:
    """Writers to one SQLite file take turns on a blocking lock instead of SQLite's busy
    handler.

    SQLite lets one writer at a time in; the others wait in its busy handler, which sleeps
    1, 2, 5 … up to 100 ms between tries and lets any newcomer that arrives while it sleeps
    overtake it. With 16 concurrent writers some requests lose the race for a second or
    more. Here a connection about to write (its first INSERT, UPDATE or DELETE) first takes
    this process's lock and then an flock on a file beside the database (shared by every
    uvicorn worker); both wake a waiter the moment the turn is given back, when the
    connection returns to the pool after its COMMIT or ROLLBACK. Only the write part of a
    request queues: reads and the HTTP work around them stay parallel. Writers outside the
    server (the CLI, Celery) keep SQLite's own locking, which still guarantees correctness;
    this only makes the server's own writers fair.
    """

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, database_path: str) -> None:
        self._lock = threading.Lock()
        self._path = f"{database_path}.writers"
        self._fd: int | None = None

    def install(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_execute)
        # Given back when the connection returns to the pool: right after its COMMIT or
        # ROLLBACK has run (the engine's commit event fires before the COMMIT itself).
        event.listen(engine.pool, "checkin", self._checked_in)

    def _before_execute(
        self,
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if connection.info.get("write_turn") or not statement.lstrip()[:7].upper().startswith(
            self.WRITES
        ):
            return
        if not self._lock.acquire(timeout=SQLITE_WRITE_TIMEOUT):
            raise OperationalError(statement, parameters, TimeoutError("write turn"))
        try:
            if self._fd is None:
                self._fd = self._open_lock_file()
            if self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        connection.info["write_turn"] = True

    def _open_lock_file(self) -> int:
        try:
            return os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:  # a read-only directory: turns within this process only
            log.warning("no write-turn file %s (%s); workers queue on SQLite", self._path, error)
            return -1

    def _checked_in(self, dbapi_connection: Any, record: Any) -> None:
        if record.info.pop("write_turn", False):
            self._give_back()

    def _give_back(self) -> None:
        try:
            if self._fd is not None and self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


_turns: weakref.WeakKeyDictionary[Engine, SqliteWriteTurns] = weakref.WeakKeyDictionary()


def _take_turns_on_sqlite() -> None:
    """Install the write turns once per SQLite engine (an app made twice shares them)."""
    engine = db.get_engine()
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return
    if engine not in _turns:
        _turns[engine] = SqliteWriteTurns(str(engine.url.database))
        _turns[engine].install(engine)


def _document_problems_everywhere(app: FastAPI) -> None:
    """Every operation under /api/v1 answers its refusals with the handlers above, whichever
    router it comes from (routers are included after this app is made): say so in the
    OpenAPI document, which is built on first request, when every router is in."""
    build = app.openapi
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    documented = _documented(400, 401, 403, 404, 409, 422)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        # The routes of `router` reference Problem, so its schema is in the components.
        assert "Problem" in document["components"]["schemas"]
        for path, operations in document.get("paths", {}).items():
            if not path.startswith("/api/v1/"):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, spec in documented.items():
                    current = responses.get(str(status), {})
                    json_schema = current.get("content", {}).get("application/json", {})
                    if json_schema.get("schema") != problem_ref:
                        responses[str(status)] = {
                            "description": spec["description"],
                            "content": {"application/json": {"schema": problem_ref}},
                        }
        return document

    app.openapi = openapi  # type: ignore[method-assign]


@asynccontextmanager
async def _prepare_worker(_app: FastAPI) -> AsyncIterator[None]:
    """Before a web worker serves:

    - its handlers run in `WEB_THREADS` threads, not anyio's default 40: with 16 requests in
      flight, the one holding SQLite's write turn otherwise queued for the GIL behind up to 15
      others, and every writer waited for it (bench/api.py: turn held 2.5 → 1.0 ms on average);
    - everything imported so far is frozen out of the garbage collector: a worker holds ~200,000
      objects after start-up, and the first full collection under load scanned them all, a
      130 ms stall for every request in that worker (bench/api.py's p99). Frozen, a full
      collection scans only what was made since: 5–8 ms."""
    to_thread.current_default_thread_limiter().total_tokens = get_settings().web_threads
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()  # collectable again once the app is gone (tests start many)


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=_prepare_worker,
        title="Kvalitetsutmärkelsen",
        version="1.0",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.include_router(router)
    app.add_middleware(LimitApiBodies)
    _document_problems_everywhere(app)
    _take_turns_on_sqlite()

    @app.get("/healthz", include_in_schema=True)
    def healthz() -> JSONResponse:
        """Liveness plus progress: the age of the oldest message waiting in the outbox."""
        try:
            with db.transaction() as session:
                session.execute(text("SELECT 1"))
                oldest = session.exec(
                    select(OutboxMessage.due_at)
                    .where(OutboxMessage.status == "queued")
                    .order_by(col(OutboxMessage.due_at))
                ).first()
        except Exception as error:  # the database is down: say so, do not crash
            log.warning("health check failed: %s", error)
            return JSONResponse(status_code=503, content={"status": "error", "database": "down"})
        age = max(0.0, (now() - oldest).total_seconds()) if oldest else 0.0
        return JSONResponse(content={"status": "ok", "oldest_queued_age_seconds": round(age, 1)})

    app.add_exception_handler(WorkflowError, workflow_error_response)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid_request_response)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_response)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, database_unavailable_response)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, unstorable_value_response)
    app.add_exception_handler(OverflowError, unstorable_value_response)
    app.add_exception_handler(IntegrityError, constraint_response)  # type: ignore[arg-type]
    return app
