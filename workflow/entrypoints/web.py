"""The web pages: Swedish, server-rendered with Jinja2, usable without JavaScript.

Each request is one transaction (`workflow.db.transaction`), so a refused change changes
nothing. Access is asked of the same functions the HTTP API asks (`auth.can_see_entry`,
`access.may_move`): a page shows only the entries its user may see (404 otherwise) and a
form only for a move the user may make; a forbidden POST gets a 403 page with the reason.
Errors are pages, never JSON and never a 500: 409 for a stale version (with a link to
reload), 422 next to the form, 413 for an upload over 20 MB, 429 after too many logins.
Paths under /api/, /metrics and /healthz keep the API's JSON errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from babel.dates import format_timedelta
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from workflow import auth, db, outbox, services
from workflow.domain.access import ROLE_LABELS_SV, Actor, Role, may_move
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Reason,
    StaleVersion,
    TransitionRefused,
    WorkflowError,
    refusal,
)
from workflow.domain.rules import AWARD_CLASSES, BOARD_DECISIONS, JURY_OUTCOMES, parse_date
from workflow.domain.stages import STAGE_FIELDS, STAGE_LABELS_SV, TERMINAL_STAGES, Stage
from workflow.emails import datum
from workflow.entrypoints import api
from workflow.models import (
    Cycle,
    Document,
    Entry,
    ExaminerAssignment,
    Organisation,
    OutboxMessage,
    Unit,
    User,
)
from workflow.settings import get_settings

TEMPLATE_DIR = FilePath(__file__).resolve().parents[2] / "templates" / "web"
STATIC_DIR = TEMPLATE_DIR / "static"
SESSION_COOKIE = "kv_session"
LOGIN_COOKIE = "kv_login"  # the pre-session token that guards the login form
NON_PAGE_PREFIXES = ("/api/", "/metrics", "/healthz")
OUTBOX_PAGE_SIZE = 200
# A multipart body carries a little more than the file; beyond this it cannot be a valid one.
UPLOAD_ENVELOPE_BYTES = 256 * 1024
FORM_MAX_BYTES = 1024 * 1024  # the longest feedback text fits many times over
# Ids in paths: larger ones cannot exist, and would overflow the database's integer.
Id = Annotated[int, Path(ge=1, lt=2**31)]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# --- words ---------------------------------------------------------------------------------

FIELD_LABELS: Mapping[str, str] = {
    "decision": "Nämndens beslut",
    "meeting_date": "Sammanträdesdatum",
    "paragraph": "Paragraf i protokollet",
    "sent_on": "Skickat den",
    "submitted_on": "Inlämnat den",
    "title": "Bidragets titel",
    "site_visit_on": "Platsbesök den",
    "examiner": "Examinator",
    "strengths": "Styrkor",
    "development_areas": "Utvecklingsområden",
    "outcome": "Jurybeslut",
    "award_class": "Klass",
    "year": "År",
    "kept_for": "Registrerat i förväg för",
    "starts_at": "Börjar",
    "ends_at": "Slutar",
}
# Facts that are not stages, as the entry page heads them.
FACT_GROUP_LABELS: Mapping[str, str] = {"site_visit": "Platsbesök"}
FIELD_HINTS: Mapping[str, str] = {"paragraph": "Till exempel § 12."}
LONG_TEXT_FIELDS = frozenset({"strengths", "development_areas"})
CHOICE_LABELS: Mapping[str, Mapping[str, str]] = {
    "decision": BOARD_DECISIONS,
    "outcome": JURY_OUTCOMES,
}
ACTION_LABELS: Mapping[Stage, str] = {
    Stage.BOARD_DECISION: "Registrera nämndbeslut",
    Stage.EXTRACT_SENT: "Registrera att protokollsutdraget är skickat",
    Stage.SUBMITTED: "Registrera inlämnat bidrag",
    Stage.EXAMINED: "Registrera examinationen",
    Stage.FEEDBACK: "Registrera återkopplingen",
    Stage.JURY: "Registrera jurybeslut",
    Stage.WITHDRAWN: "Återkalla deltagandet",
}
STATUS_LABELS: Mapping[str, str] = {
    "queued": "I kö",
    "sent": "Skickat",
    "failed": "Misslyckat",
    "cancelled": "Behövs inte",
}
DOCUMENT_LABELS: Mapping[str, str] = {
    "extract": "Protokollsutdrag",
    "contribution": "Skriftligt bidrag",
}
NOTICES: Mapping[str, str] = {
    "moved": "Ändringen är sparad.",
    "uploaded": "Filen är uppladdad.",
    "site_visit": "Platsbesöket är bokat och enheten får ett meddelande.",
    "examiner": "Examinatorn är tilldelad posten och ser den nu.",
    "retried": "Meddelandet ligger i kön igen och skickas strax.",
    "logged_out": "Du är utloggad.",
}
ERROR_TITLES: Mapping[int, str] = {
    400: "Felaktig begäran",
    403: "Åtkomst nekad",
    404: "Sidan finns inte",
    405: "Metoden är inte tillåten",
    409: "Posten har ändrats",
    413: "Filen är för stor",
    422: "Uppgifterna kunde inte sparas",
    429: "För många försök",
    503: "Tjänsten är inte tillgänglig just nu",
}
# Field-level messages by the domain's stable reason codes; other reasons are shown as given.
FIELD_REASON_MESSAGES: Mapping[str, str] = {
    "missing_field": "Fältet måste fyllas i.",
    "invalid_date": "Ange ett datum som ÅÅÅÅ-MM-DD.",
    "invalid_choice": "Välj ett av alternativen.",
}
_QUOTED_NAME = re.compile(r"'([a-z_]+)'")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%?=&#-]*")
# The stages in which a contribution (skriftligt bidrag) may be uploaded.
_CONTRIBUTION_STAGES = frozenset(
    {Stage.NOTIFIED, Stage.BOARD_DECISION, Stage.EXTRACT_SENT, Stage.SUBMITTED}
)


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().astimezone(STOCKHOLM).date()


# --- templates -----------------------------------------------------------------------------


def _tid(value: datetime | str) -> str:
    """A timestamp in Stockholm time: "2 april 2024 kl. 11.30"."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(STOCKHOLM)
    return f"{datum(local.date())} kl. {local:%H.%M}"


def _datum(value: date | datetime | str) -> str:
    try:
        return datum(value)
    except (TypeError, ValueError):
        return str(value)


def _klass(code: str) -> str:
    return AWARD_CLASSES.get(code, code)


def _stage_label(code: str | None) -> str:
    try:
        return STAGE_LABELS_SV[Stage(code or "")]
    except ValueError:
        return FACT_GROUP_LABELS.get(str(code), str(code))


def _filesize(size: int) -> str:
    if size < 1024:
        return f"{size} byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} kB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


def _days_from_today(day: date) -> str:
    days = (day - today()).days
    if days == 0:
        return "i dag"
    if days == 1:
        return "i morgon"
    if days == -1:
        return "i går"
    return f"om {days} dagar" if days > 0 else f"för {-days} dagar sedan"


def fact_value(name: str, value: Any) -> str:
    """A recorded value as a person reads it: dates in Swedish, codes as their names."""
    text = str(value)
    if name in CHOICE_LABELS:
        label = CHOICE_LABELS[name].get(text, text)
        return label[:1].upper() + label[1:]
    if name == "award_class":
        label = _klass(text)
        return label[:1].upper() + label[1:]
    if name == "kept_for":
        return _stage_label(text)
    if name.endswith(("_on", "_date")):
        return _datum(text)
    return text


def _duration(seconds: float) -> str:
    """'7 minuter', '5 timmar': how long something has waited, in Swedish."""
    return str(format_timedelta(timedelta(seconds=seconds), locale="sv_SE"))


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        datum=_datum,
        tid=_tid,
        klass=_klass,
        stage_label=_stage_label,
        filesize=_filesize,
        days_from_today=_days_from_today,
        varaktighet=_duration,
    )
    env.globals.update(
        field_label=lambda name: FIELD_LABELS.get(name, name),
        fact_value=fact_value,
        status_labels=STATUS_LABELS,
        document_labels=DOCUMENT_LABELS,
        role_labels=ROLE_LABELS_SV,
        css_version=_css_version(),
    )
    return env


def _css_version() -> str:
    css = STATIC_DIR / "web.css"
    return hashlib.sha256(css.read_bytes()).hexdigest()[:10] if css.exists() else "0"


templates = Jinja2Templates(env=_environment())


@dataclass(frozen=True)
class WebUser:
    """The person behind a request: who, and the session's CSRF token for its forms."""

    actor: Actor
    session_id: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.actor.role == Role.ADMIN


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    user: WebUser | None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    notice = NOTICES.get(request.query_params.get("ok", ""))
    return templates.TemplateResponse(
        request,
        name,
        {"user": user, "notice": notice, "path": request.url.path, **context},
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def error_page(
    request: Request,
    status: int,
    reasons: Iterable[Reason],
    *,
    user: WebUser | None,
    back: tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    typed: Sequence[tuple[str, str]] = (),
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": ERROR_TITLES.get(status, "Något gick fel"),
            "reasons": list(reasons),
            "back": back,
            "typed": typed,
        },
        user=user,
        status=status,
        headers=headers,
    )


# --- sessions, CSRF ------------------------------------------------------------------------
#
# CSRF: the synchronizer-token pattern. The session lives server-side (`WebSession`) and
# already holds a random per-session token; every form carries it and every POST compares it
# with `secrets.compare_digest`. The CSRF libraries for Starlette/FastAPI (starlette-csrf,
# fastapi-csrf-protect, asgi-csrf) implement the signed double-submit cookie, which is what an
# app *without* server-side sessions needs; they need a signing secret this app does not have,
# and starlette-csrf reads the token from a request header, which a plain HTML form (no
# JavaScript) cannot send. With the session on the server the synchronizer token is the
# stronger pattern (OWASP's first recommendation) and is these few lines.
# Before login there is no session: the login form is guarded by a random pre-session cookie
# (HttpOnly, SameSite=Strict, Path=/login) whose value the form echoes (double submit), and
# every POST is also refused when the browser says it comes from another site (Origin,
# Sec-Fetch-Site), which closes the cookie-injection gap of an unsigned double submit.


def _secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https" or get_settings().kvalitet_env == "production"


def current_user(session: Session, request: Request) -> WebUser:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise refusal(auth.Unauthenticated, "unauthenticated", "Du är inte inloggad.")
    actor, web_session = auth.session_actor(session, session_id, now=now())
    return WebUser(actor=actor, session_id=web_session.id, csrf_token=web_session.csrf_token)


def optional_user(request: Request) -> WebUser | None:
    """The logged-in user for an error page, or None; never raises."""
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        with db.transaction() as session:
            return current_user(session, request)
    except Exception:  # an error page must render even when the database is the error
        return None


def _same_token(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and secrets.compare_digest(sent.encode(), expected.encode())


def check_csrf(user: WebUser, form: FormData) -> None:
    if not _same_token(form.get("csrf_token"), user.csrf_token):
        raise _csrf_refusal()


def authorised_user(request: Request, form: FormData) -> WebUser:
    """The user behind a POST whose form carries the session's CSRF token (else 403)."""
    with db.transaction() as session:
        user = current_user(session, request)
    check_csrf(user, form)
    return user


def _csrf_refusal() -> WorkflowError:
    return refusal(
        auth.Forbidden,
        "csrf_token_invalid",
        "Formuläret saknar en giltig säkerhetstoken (det kan ha blivit för gammalt). "
        "Ladda om sidan och försök igen.",
    )


def check_same_origin(request: Request) -> None:
    """Refuse a POST the browser says comes from another site."""
    origin = request.headers.get("origin")
    # Behind a proxy that rewrites Host, the public name is in X-Forwarded-Host; a page on
    # another site cannot make the browser send either header with a chosen value.
    hosts = {
        request.headers.get("host"),
        request.headers.get("x-forwarded-host", "").split(",")[0].strip() or None,
    }
    cross_origin = origin is not None and urlsplit(origin).netloc not in hosts
    if cross_origin or request.headers.get("sec-fetch-site") == "cross-site":
        raise refusal(auth.Forbidden, "cross_site", "Formuläret skickades från en annan webbplats.")


async def posted_form(request: Request) -> FormData:
    """The POSTed form (urlencoded, small), after the same-origin check."""
    check_same_origin(request)
    _check_length(request, FORM_MAX_BYTES, "Formuläret är för stort.")
    return await request.form(max_files=0, max_fields=100)


def _check_length(request: Request, limit: int, message: str) -> None:
    """Refuse a body without a declared length (browsers always send one) or over `limit`,
    before reading it."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise StarletteHTTPException(411, "Begäran saknar uppgift om sin storlek.")
    if int(declared) > limit:
        raise refusal(api.PayloadTooLarge, "too_large", message)


FormDep = Annotated[FormData, Depends(posted_form)]


def _text(form: FormData, name: str, limit: int = 10_000) -> str:
    value = form.get(name)
    return _clean(value)[:limit] if isinstance(value, str) else ""


def _clean(value: str) -> str:
    """Trimmed, without control characters (PostgreSQL refuses NUL in text) but line breaks."""
    return _CONTROL.sub("", value).strip()


def _safe_next(value: str | None) -> str:
    """Only a path on this site: no scheme, no host, no `//`, no spaces or control
    characters (browsers drop a tab, turning `/\t/x` into `//x`)."""
    return value if value and _LOCAL_PATH.fullmatch(value) else "/"


def _set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure_cookies(request),
    )


def _login_token(request: Request) -> str:
    existing = request.cookies.get(LOGIN_COOKIE, "")
    return (
        existing if re.fullmatch(r"[A-Za-z0-9_-]{40,64}", existing) else secrets.token_urlsafe(32)
    )


def _login_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    name: str = "",
    next_path: str = "/",
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    token = _login_token(request)
    response = render(
        request,
        "login.html",
        {"login_token": token, "error": error, "name": name, "next": _safe_next(next_path)},
        user=None,
        status=status,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=2 * 3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure_cookies(request),
    )
    return response


# --- the pages -----------------------------------------------------------------------------

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> Response:
    if optional_user(request) is not None:
        return RedirectResponse(_safe_next(next_path), status_code=303)
    return _login_page(request, next_path=next_path)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: FormDep) -> Response:
    name = _text(form, "name", 200)
    password = form.get("password")
    next_path = _safe_next(_text(form, "next", 2000))
    if not _same_token(form.get("csrf_token"), request.cookies.get(LOGIN_COOKIE, "")):
        return _login_page(
            request,
            status=403,
            error="Inloggningsformuläret hade gått ut. Försök igen.",
            name=name,
            next_path=next_path,
        )
    session_id: str | None = None
    with db.transaction() as session:
        try:
            _, web_session = auth.login(
                session,
                name=name,
                password=password if isinstance(password, str) else "",
                now=now(),
            )
        except auth.TooManyAttempts as error:
            return _login_page(
                request,
                status=429,
                error=" ".join(r.message for r in error.reasons),
                name=name,
                next_path=next_path,
                headers={"Retry-After": str(int(auth.LOGIN_WINDOW.total_seconds()))},
            )
        except auth.Unauthenticated:
            pass  # caught inside the transaction, so the failed attempt is committed
        else:
            session_id = web_session.id
            old = request.cookies.get(SESSION_COOKIE)
            if old:
                auth.logout(session, old)  # a new id at login: no session fixation
    if session_id is None:
        return _login_page(
            request,
            status=401,
            error="Fel användarnamn eller lösenord.",
            name=name,
            next_path=next_path,
        )
    response = RedirectResponse(next_path, status_code=303)
    _set_session_cookie(response, request, session_id)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, form: FormDep) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        check_csrf(user, form)
        auth.logout(session, user.session_id)
    response = RedirectResponse("/login?ok=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request, year: Annotated[int | None, Query(ge=1900, le=9999)] = None
) -> Response:
    """The cycle at a glance: entries per stage and class, deadlines, overdue, failed e-mail."""
    with db.transaction() as session:
        user = current_user(session, request)
        cycles = list(session.exec(select(Cycle).order_by(col(Cycle.year).desc())).all())
        cycle = next((c for c in cycles if c.year == year), None) if year else None
        if year is not None and cycle is None:
            raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
        cycle = cycle or (cycles[0] if cycles else None)
        visible = auth.visible_entry_ids(session, user.actor)
        failed_ids = _message_ids(session, visible, status="failed", limit=10)
        failed_count = _message_count(session, visible, status="failed")
        failed = _messages(session, failed_ids)
        context: dict[str, Any] = {
            "cycles": cycles,
            "cycle": cycle,
            "failed": failed,
            "failed_count": failed_count,
            "queue": (
                outbox.queue_health(session, now=datetime.now(UTC))
                if user.actor.role == Role.ADMIN
                else None
            ),
            "queue_warn_seconds": QUEUE_WARN_SECONDS,
        }
        if cycle is not None:
            scope = auth.visible_entries(user.actor)
            overview = services.cycle_overview(session, cycle, today=today(), visible=scope)
            context.update(_cycle_overview(cycle, overview))
            context["entries"] = services.entry_views(
                session, year=cycle.year, visible=scope, limit=DASHBOARD_ENTRIES
            )
    return render(request, "dashboard.html", context, user=user)


DASHBOARD_ENTRIES = 50  # the rest are a click away, page by page, on /entries
QUEUE_WARN_SECONDS = 15 * 60  # the relay runs every 10 s: a quarter of an hour is a stall


def _cycle_overview(cycle: Cycle, overview: services.CycleOverview) -> dict[str, Any]:
    counts = overview.counts
    seen_classes = {award_class for _, award_class in counts}
    classes = list(cycle.classes) + sorted(seen_classes - set(cycle.classes))
    stage_rows = [
        {
            "stage": stage,
            "label": STAGE_LABELS_SV[stage],
            "counts": [counts.get((stage.value, c), 0) for c in classes],
            "total": sum(counts.get((stage.value, c), 0) for c in classes),
        }
        for stage in Stage
    ]
    class_totals = [sum(counts.get((s.value, c), 0) for s in Stage) for c in classes]
    deadlines: list[dict[str, Any]] = [
        {
            "label": "Sista dag för skriftligt bidrag",
            "day": cycle.contribution_deadline,
            "missing": overview.missing_contribution,
            "missing_label": "saknar bidrag",
        },
        {
            "label": "Sista dag för protokollsutdrag",
            "day": cycle.extract_deadline,
            "missing": overview.missing_extract,
            "missing_label": "saknar protokollsutdrag",
        },
        {
            "label": "Vinnarna utses",
            "day": cycle.winners_date,
            "missing": None,
            "missing_label": "",
        },
    ]
    deadlines.sort(key=lambda d: d["day"])
    return {
        "classes": classes,
        "stage_rows": stage_rows,
        "class_totals": class_totals,
        "deadlines": deadlines,
        "overdue": overview.overdue,
        "overdue_count": overview.overdue_count,
        "total": overview.total,
        "today": today(),
    }


def _message_query(visible: set[int] | None, status: str | None) -> Any:
    query = select(OutboxMessage.id)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if visible is not None:
        query = query.where(col(OutboxMessage.entry_id).in_(sorted(visible)))
    return query


def _message_ids(
    session: Session, visible: set[int] | None, *, status: str | None, limit: int
) -> list[int]:
    query = _message_query(visible, status).order_by(col(OutboxMessage.id).desc()).limit(limit)
    return [int(i) for i in session.exec(query).all()]


def _message_count(session: Session, visible: set[int] | None, *, status: str | None) -> int:
    query = select(func.count()).select_from(_message_query(visible, status).subquery())
    return int(session.exec(query).one())


def _messages(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    """The messages with their subjects and the unit each is about, newest first."""
    if not ids:
        return []
    views = outbox.outbox_views(session, message_ids=ids, with_subject=True, limit=len(ids))
    entry_ids = {v["entry_id"] for v in views if v["entry_id"] is not None}
    units = dict(
        session.exec(
            select(Entry.id, Unit.name)
            .join(Unit, col(Unit.id) == Entry.unit_id)
            .where(col(Entry.id).in_(sorted(entry_ids)))
        ).all()
    )
    for view in views:
        view["unit"] = units.get(view["entry_id"])
    return sorted(views, key=lambda v: v["id"], reverse=True)


ENTRY_PAGE_SIZE = 100


@router.get("/entries", response_class=HTMLResponse)
def entries_page(
    request: Request,
    year: Annotated[int | None, Query(ge=1900, le=9999)] = None,
    stage: Annotated[str, Query(max_length=50)] = "",
    after: Annotated[int, Query(ge=0, le=api.MAX_ID)] = 0,
) -> Response:
    """All entries of a cycle the user may see, a page at a time (by id: every page is as
    fast as the first), optionally of one stage."""
    with db.transaction() as session:
        user = current_user(session, request)  # first: a visitor is sent to log in
        if stage and stage not in {s.value for s in Stage}:
            return error_page(
                request,
                400,
                [Reason("unknown_stage", f"Okänt steg i adressen: '{stage}'. Välj steg i listan.")],
                user=user,
                back=("/entries", "Till alla poster"),
            )
        chosen = Stage(stage) if stage else None
        cycles = list(session.exec(select(Cycle).order_by(col(Cycle.year).desc())).all())
        cycle = next((c for c in cycles if c.year == year), None) if year else None
        if year is not None and cycle is None:
            raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
        cycle = cycle or (cycles[0] if cycles else None)
        entries = (
            services.entry_views(
                session,
                year=cycle.year,
                stage=chosen.value if chosen else None,
                visible=auth.visible_entries(user.actor),
                after_id=after or None,
                limit=ENTRY_PAGE_SIZE + 1,  # one more tells whether a next page exists
            )
            if cycle
            else []
        )
    more = len(entries) > ENTRY_PAGE_SIZE
    entries = entries[:ENTRY_PAGE_SIZE]
    query = {"year": cycle.year if cycle else "", **({"stage": chosen.value} if chosen else {})}
    return render(
        request,
        "entries.html",
        {
            "cycles": cycles,
            "cycle": cycle,
            "entries": entries,
            "stage": chosen.value if chosen else "",
            "stages": [(s.value, STAGE_LABELS_SV[s]) for s in Stage],
            "first_page": f"/entries?{urlencode(query)}" if after else None,
            "next_page": (
                f"/entries?{urlencode({**query, 'after': entries[-1]['id']})}" if more else None
            ),
        },
        user=user,
    )


@router.get("/entries/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: Id) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        context = entry_context(session, user, entry_id)
    return render(request, "entry.html", context, user=user)


@dataclass
class FormProblem:
    """What went wrong in one form of the entry page, to show next to it."""

    form: str  # "transition-<stage>", "upload-<kind>", "site-visit"
    reasons: list[Reason]
    values: Mapping[str, str]


def entry_context(
    session: Session, user: WebUser, entry_id: int, problem: FormProblem | None = None
) -> dict[str, Any]:
    """Everything the entry page shows; raises NotFound for an entry the user may not see."""
    entry = api.visible_entry(session, user.actor, entry_id)
    view = services.entry_view(session, entry_id)
    scope = auth.entry_scope(session, entry)
    stage = Stage(view["stage"])

    def allowed(target: Stage) -> bool:
        return may_move(user.actor, scope, target) is None

    targets = [Stage(t) for t in view["allowed_transitions"] if t != Stage.WITHDRAWN]
    # A contribution may arrive before the board has met; it is kept until then.
    keeps_contribution = (
        not view["privately_run"]
        and stage in (Stage.NOTIFIED, Stage.BOARD_DECISION)
        and Stage.SUBMITTED not in view["pending"]
    )
    if keeps_contribution:
        targets.append(Stage.SUBMITTED)
    if Stage.WITHDRAWN in view["allowed_transitions"]:
        targets.append(Stage.WITHDRAWN)
    forms = [_transition_form(t, problem) for t in targets if allowed(t)]
    if keeps_contribution:
        for form in forms:
            if form["target"] == Stage.SUBMITTED:
                form["hint"] = (
                    "Bidraget sparas och posten går vidare till Bidrag inlämnat "
                    "när protokollsutdraget är skickat."
                )
    documents = session.exec(
        select(Document)
        # The list needs no file contents (SQLModel types the column as bytes).
        .options(defer(Document.content))  # type: ignore[arg-type]
        .where(Document.entry_id == entry_id)
        .order_by(col(Document.id))
    ).all()
    if not any(d.kind == "extract" for d in documents):
        for form in forms:
            if form["target"] == Stage.EXTRACT_SENT:
                # Said before the click, not only in the refusal after it.
                form["hint"] = (
                    "Ladda först upp protokollsutdraget som PDF under Dokument nedan; "
                    "det skickas då med till Kvalitetsutmärkelsen."
                )
    uploads = []
    if (
        allowed(Stage.EXTRACT_SENT)
        and not view["privately_run"]
        and stage in (Stage.NOTIFIED, Stage.BOARD_DECISION)
    ):
        uploads.append("extract")
    if allowed(Stage.SUBMITTED) and stage in _CONTRIBUTION_STAGES:
        uploads.append("contribution")
    site_visit = stage == Stage.SUBMITTED and allowed(Stage.EXAMINED)
    shown = (
        {f["id"] for f in forms}
        | ({"site-visit"} if site_visit else set())
        | ({"examiner"} if user.is_admin else set())
    )
    # A problem whose form is not on the page (say, a move no longer possible) goes on top.
    page_problem = problem
    problem_anchor = None
    if problem is not None and problem.form in shown:
        page_problem, problem_anchor = None, problem.form
    elif problem is not None and problem.form.startswith("upload-") and uploads:
        page_problem, problem_anchor = None, "dokument"
    return {
        "entry": view,
        "history": services.entry_history(session, entry_id),
        "forms": forms,
        "documents": documents,
        "uploads": uploads,
        "upload_problem": _problem_for(problem, "upload-") if uploads else None,
        "site_visit": site_visit,
        "page_errors": [r.message for r in page_problem.reasons] if page_problem else [],
        "problem_anchor": problem_anchor,
        "site_visit_problem": _problem_for(problem, "site-visit"),
        "messages": _messages(
            session, _message_ids(session, {entry_id}, status=None, limit=OUTBOX_PAGE_SIZE)
        ),
        "max_upload_mb": services.MAX_UPLOAD_BYTES // (1024 * 1024),
        "missing_addresses": _missing_addresses(session, entry, stage),
        **_examiners(session, user, entry_id, problem),
    }


def _examiners(
    session: Session, user: WebUser, entry_id: int, problem: FormProblem | None
) -> dict[str, Any]:
    """Who examines the entry, and for an admin the examiners that can still be assigned."""
    assigned_ids = set(
        session.exec(
            select(ExaminerAssignment.user_id).where(ExaminerAssignment.entry_id == entry_id)
        ).all()
    )
    rows = session.exec(
        select(User.id, User.name, Organisation.name)
        .join(Organisation, col(Organisation.id) == User.organisation_id, isouter=True)
        .where(col(User.role) == Role.EXAMINER.value)
        .order_by(col(User.name))
    ).all()
    examiners = [
        {"id": user_id, "label": f"{name} ({org})" if org else name} for user_id, name, org in rows
    ]
    return {
        "examiners": [e for e in examiners if e["id"] in assigned_ids],
        "assignable": (
            [e for e in examiners if e["id"] not in assigned_ids] if user.is_admin else []
        ),
        "examiner_problem": _problem_for(problem, "examiner"),
    }


def _missing_addresses(session: Session, entry: Entry, stage: Stage) -> list[str]:
    """Who the entry's e-mails cannot reach: without an address they are not written at all,
    so the page says so (receipts, reminders, feedback and the jury's answer)."""
    if stage in TERMINAL_STAGES:
        return []
    unit = session.get(Unit, entry.unit_id)
    organisation = session.get(Organisation, unit.organisation_id) if unit else None
    missing = []
    if unit is not None and not unit.contact_email:
        missing.append(
            f"{unit.name} saknar e-postadress: kvitton, påminnelser, återkoppling och "
            "jurybeslut kan inte skickas till enheten."
        )
    if organisation is not None and not organisation.coordinator_email:
        what = (
            "påminnelser till samordnaren"
            if unit is not None and unit.privately_run
            else "begäran om nämndbeslut och påminnelser om protokollsutdraget"
        )
        missing.append(
            f"{organisation.name} saknar samordnare med e-postadress: {what} kan inte skickas."
        )
    return missing


def _problem_for(problem: FormProblem | None, prefix: str) -> FormProblem | None:
    return problem if problem is not None and problem.form.startswith(prefix) else None


def _transition_form(target: Stage, problem: FormProblem | None) -> dict[str, Any]:
    form_id = f"transition-{target.value}"
    mine = problem if problem is not None and problem.form == form_id else None
    values = mine.values if mine else {}
    field_errors: dict[str, str] = {}
    general: list[str] = []
    specs = STAGE_FIELDS[target]
    for reason in mine.reasons if mine else []:
        name = _field_of(reason, {*specs, "note"})
        if name is not None and name not in field_errors:
            field_errors[name] = FIELD_REASON_MESSAGES.get(reason.code, reason.message)
        else:
            general.append(reason.message)
    fields = [
        {
            "name": name,
            "id": f"{target.value}-{name}",
            "label": FIELD_LABELS.get(name, name),
            "hint": FIELD_HINTS.get(name),
            "kind": "textarea" if name in LONG_TEXT_FIELDS else specs[name].kind,
            "required": specs[name].required,
            "choices": [
                (code, label[:1].upper() + label[1:])
                for code, label in (specs[name].choices or {}).items()
            ],
            "value": values.get(f"data_{name}", ""),
            "error": field_errors.get(name),
        }
        for name in sorted(specs, key=lambda n: not specs[n].required)
    ]
    return {
        "id": form_id,
        "target": target.value,
        "title": STAGE_LABELS_SV[target],
        "button": ACTION_LABELS.get(target, STAGE_LABELS_SV[target]),
        "fields": fields,
        "note": values.get("note", ""),
        "note_required": target == Stage.WITHDRAWN,
        "note_error": field_errors.get("note"),
        "errors": general,
        "danger": target == Stage.WITHDRAWN,
        "open": mine is not None,
        "hint": None,
    }


def _field_of(reason: Reason, names: set[str]) -> str | None:
    """The form field a domain reason is about: by its stable code, and the field name the
    message quotes (the last one that is a field of this form)."""
    if reason.code == "missing_note":
        return "note"
    if reason.code not in FIELD_REASON_MESSAGES:
        return None
    quoted = [name for name in _QUOTED_NAME.findall(reason.message) if name in names]
    return quoted[-1] if quoted else None


def _entry_problem_page(
    request: Request,
    user: WebUser,
    entry_id: int,
    error: WorkflowError,
    form_id: str,
    values: Mapping[str, str],
) -> HTMLResponse:
    """The entry page again, with the refusal shown next to the form that caused it."""
    with db.transaction() as session:
        context = entry_context(
            session, user, entry_id, FormProblem(form_id, list(error.reasons), values)
        )
    return render(request, "entry.html", context, user=user, status=api.status_for(error))


NOTHING_SAVED = "Någon annan har ändrat posten sedan du läste in sidan, så ingenting sparades."


def _stale_page(
    request: Request, user: WebUser, entry_id: int, form_id: str, values: Mapping[str, str]
) -> Response:
    """Someone else changed the entry first: nothing was saved, and nothing typed is lost.
    The entry as it is now, with the form filled in again to check and send; or, when that
    move is no longer possible, the conflict page with the texts to copy."""
    kept = f"{NOTHING_SAVED} Det du skrev finns kvar: se efter vad som ändrats och skicka igen."
    reason = Reason("stale_version", kept)
    with db.transaction() as session:
        context = entry_context(session, user, entry_id, FormProblem(form_id, [reason], values))
    if context["problem_anchor"] == form_id:
        return render(request, "entry.html", context, user=user, status=409)
    return error_page(
        request,
        409,
        [
            Reason(
                "stale_version",
                f"{NOTHING_SAVED} Läs in posten igen, kontrollera uppgifterna och försök på nytt.",
            )
        ],
        user=user,
        back=(f"/entries/{entry_id}", "Läs in posten igen"),
        typed=_typed_texts(values),
    )


def _typed_texts(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """The texts someone wrote into a form, by label, for a page that cannot show the form."""
    labels = {"note": "Anteckning i historiken"} | {
        f"data_{name}": label for name, label in FIELD_LABELS.items() if name not in CHOICE_LABELS
    }
    typed = ((key, value.strip()) for key, value in values.items() if key in labels)
    return [(labels[key], text) for key, text in typed if text]


def _typed_values(form: Any) -> dict[str, str]:
    """What the person typed into a form (not the CSRF token), to show again after a refusal."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


@router.post("/entries/{entry_id}/transition", response_class=HTMLResponse)
def transition(request: Request, entry_id: Id, form: FormDep) -> Response:
    """Move the entry (form fields: to, version, note, data_<field>)."""
    values = _typed_values(form)
    target_value = _text(form, "to", 50)
    form_id = f"transition-{target_value}"
    note = _text(form, "note") or None
    data = {
        key.removeprefix("data_"): _clean(value)[:10_000]
        for key, value in values.items()
        if key.startswith("data_")
    }
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            entry = api.visible_entry(session, user.actor, entry_id)
            target = services.parse_stage(target_value)
            reason = may_move(user.actor, auth.entry_scope(session, entry), target)
            if reason is not None:
                raise auth.Forbidden((reason,))
            services.advance_entry(
                session,
                entry_id=entry_id,
                target=target,
                version=_version(form),
                actor=user.actor.name,
                now=now(),
                note=note,
                data=data,
            )
    except StaleVersion:
        return _stale_page(request, user, entry_id, form_id, values)
    except auth.Forbidden as error:
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    except (InvalidInput, TransitionRefused) as error:
        return _entry_problem_page(request, user, entry_id, error, form_id, values)
    return RedirectResponse(
        f"/entries/{entry_id}?ok=moved#tidslinje", status_code=303, background=api.nudge()
    )


def _version(form: FormData) -> int:
    raw = _text(form, "version", 20)
    if not raw.isdigit() or len(raw) > 9:
        raise refusal(InvalidInput, "invalid_version", "Formuläret saknar postens version.")
    return int(raw)


def _clock_time(form: FormData, name: str, label: str) -> time | None:
    """An HH:MM field (a browser's time input); empty means the default."""
    raw = _text(form, name, 10)
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
    values = _typed_values(form)
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            entry = api.visible_entry(session, user.actor, entry_id)
            reason = may_move(user.actor, auth.entry_scope(session, entry), Stage.EXAMINED)
            if reason is not None:
                raise auth.Forbidden((reason,))
            day = parse_date(_text(form, "site_visit_on", 40))
            if day is None:
                raise refusal(
                    InvalidInput, "invalid_date", "Ange platsbesökets datum som ÅÅÅÅ-MM-DD."
                )
            services.schedule_site_visit(
                session,
                entry_id=entry_id,
                version=_version(form),
                on=day,
                actor=user.actor.name,
                now=now(),
                note=_text(form, "note") or None,
                starts_at=_clock_time(form, "starts_at", "Tiden då besöket börjar"),
                ends_at=_clock_time(form, "ends_at", "Tiden då besöket slutar"),
            )
    except StaleVersion:
        return _stale_page(request, user, entry_id, "site-visit", values)
    except auth.Forbidden as error:
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    except (InvalidInput, TransitionRefused) as error:
        return _entry_problem_page(request, user, entry_id, error, "site-visit", values)
    return RedirectResponse(
        f"/entries/{entry_id}?ok=site_visit", status_code=303, background=api.nudge()
    )


@router.post("/entries/{entry_id}/examiners", response_class=HTMLResponse)
def assign_examiner(request: Request, entry_id: Id, form: FormDep) -> Response:
    """Assign an examiner (admins); one from the entry's own organisation is refused (jäv)."""
    values = _typed_values(form)
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            api.visible_entry(session, user.actor, entry_id)
            if not user.is_admin:
                raise refusal(
                    auth.Forbidden, "forbidden", "Bara utmärkelsens kansli tilldelar examinatorer."
                )
            raw = _text(form, "user_id", 20)
            if not raw.isdigit() or len(raw) > 9:
                raise refusal(InvalidInput, "missing_examiner", "Välj en examinator.")
            auth.assign_examiner(
                session,
                entry_id=entry_id,
                examiner_id=int(raw),
                assigned_by=user.actor.name,
                now=now(),
            )
    except auth.Forbidden as error:
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    except (InvalidInput, NotFound, Conflict) as error:
        return _entry_problem_page(request, user, entry_id, error, "examiner", values)
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
    kind = _text(form, "kind", 20)
    upload = form.get("file")
    values = {"kind": kind}
    user = authorised_user(request, form)
    try:
        with db.transaction() as session:
            entry = api.visible_entry(session, user.actor, entry_id)
            target = Stage.EXTRACT_SENT if kind == "extract" else Stage.SUBMITTED
            reason = may_move(user.actor, auth.entry_scope(session, entry), target)
            if reason is not None:
                raise auth.Forbidden((reason,))
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise refusal(InvalidInput, "missing_file", "Välj en fil att ladda upp.")
            data = upload.file.read(services.MAX_UPLOAD_BYTES + 1)
            if len(data) > services.MAX_UPLOAD_BYTES:
                raise refusal(api.PayloadTooLarge, "too_large", "Filen är större än 20 MB.")
            services.attach_document(
                session,
                entry_id=entry_id,
                kind=kind,
                filename=upload.filename,
                data=data,
                actor=user.actor.name,
                now=now(),
            )
    except auth.Forbidden as error:
        return error_page(
            request, 403, error.reasons, user=user, back=(f"/entries/{entry_id}", "Till posten")
        )
    except (InvalidInput, api.PayloadTooLarge) as error:
        return _entry_problem_page(request, user, entry_id, error, f"upload-{kind}", values)
    return RedirectResponse(f"/entries/{entry_id}?ok=uploaded#dokument", status_code=303)


@router.get("/entries/{entry_id}/documents/{document_id}")
def download_document(request: Request, entry_id: Id, document_id: Id) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        api.visible_entry(session, user.actor, entry_id)
        document = session.get(Document, document_id)
        if document is None or document.entry_id != entry_id:
            raise refusal(NotFound, "not_found", f"Dokumentet med id {document_id} finns inte.")
        return Response(
            document.content,
            media_type=document.content_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(document.filename)}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, status: str = "") -> Response:
    """The e-mails the system has sent or will send; a failed one can be sent again (admin)."""
    chosen = status if status in STATUS_LABELS else None
    with db.transaction() as session:
        user = current_user(session, request)
        visible = auth.visible_entry_ids(session, user.actor)
        ids = _message_ids(session, visible, status=chosen, limit=OUTBOX_PAGE_SIZE)
        messages = _messages(session, ids)
        counts = {s: _message_count(session, visible, status=s) for s in STATUS_LABELS}
    return render(
        request,
        "outbox.html",
        {
            "messages": messages,
            "counts": counts,
            "total": sum(counts.values()),
            "status": chosen or "",
            "page_size": OUTBOX_PAGE_SIZE,
        },
        user=user,
    )


@router.post("/outbox/{message_id}/retry", response_class=HTMLResponse)
def retry_message(request: Request, message_id: Id, form: FormDep) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        check_csrf(user, form)
        if not user.is_admin:
            raise refusal(
                auth.Forbidden, "forbidden", "Endast administratörer kan skicka om meddelanden."
            )
        outbox.retry_message(session, message_id, now=now())
    back = _safe_next(_text(form, "back", 200)) if form.get("back") else "/outbox"
    separator = "&" if "?" in back else "?"
    return RedirectResponse(
        f"{back}{separator}{urlencode({'ok': 'retried'})}",
        status_code=303,
        background=api.nudge(),
    )


# --- errors as pages -----------------------------------------------------------------------


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(NON_PAGE_PREFIXES)


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _pages_or(fallback: Handler) -> Callable[[Request, Any], Awaitable[Response]]:
    """An exception handler that answers web paths with a page and leaves the rest to
    `fallback` (the API's JSON)."""

    async def handle(request: Request, error: Any) -> Response:
        if not _is_page(request) or not isinstance(error, _PAGE_ERRORS):
            result = fallback(request, error)
            response = await result if isinstance(result, Awaitable) else result
            if not _is_page(request):
                return response
            # An error only the API knows how to word (the database down, a value it cannot
            # store): the same status, as a page.
            return await run_in_threadpool(_json_problem_as_page, request, response)
        return await run_in_threadpool(_error_as_page, request, error)

    return handle


_PAGE_ERRORS = (WorkflowError, RequestValidationError, StarletteHTTPException)


def _json_problem_as_page(request: Request, response: Response) -> Response:
    status = response.status_code
    message = "Något gick fel. Försök igen om en stund."
    with contextlib.suppress(AttributeError, ValueError, KeyError, TypeError):
        message = str(json.loads(bytes(response.body))["detail"]) or message
    return error_page(
        request,
        status,
        [Reason("error", message)],
        user=optional_user(request) if status < 500 else None,
        headers={k: v for k, v in response.headers.items() if k.lower() == "retry-after"},
    )


def _error_as_page(request: Request, error: Exception) -> Response:
    if isinstance(error, auth.Unauthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urlencode({"next": target}) if request.method == "GET" and target != "/" else ""
        return RedirectResponse(f"/login?{query}" if query else "/login", status_code=303)
    user = optional_user(request)
    if isinstance(error, WorkflowError):
        return error_page(request, api.status_for(error), error.reasons, user=user)
    if isinstance(error, RequestValidationError):
        places = {e.get("loc", ("",))[0] for e in error.errors()}
        # A bad id in the path is a page that does not exist; a bad query is a bad address
        # (400, nothing was being saved); only a form's body is data that could not be saved.
        status = 404 if "path" in places else 422 if "body" in places else 400
        message = (
            "Sidan finns inte." if status == 404 else "Adressen innehåller ett ogiltigt värde."
        )
        return error_page(request, status, [Reason("invalid_request", message)], user=user)
    assert isinstance(error, StarletteHTTPException)
    message = {
        404: "Sidan finns inte. Kontrollera adressen eller gå till översikten.",
        405: "Sidan kan inte användas så.",
    }.get(error.status_code, str(error.detail))
    return error_page(
        request,
        error.status_code,
        [Reason("http_error", message)],
        user=user,
        headers=error.headers,
    )


def _workflow_error_json(request: Request, error: WorkflowError) -> Response:
    return api.problem(api.status_for(error), error.reasons)


def install(app: FastAPI) -> None:
    """Add the pages, their CSS and page-rendering error handlers to `app`: every handler
    the API registered keeps answering its own paths; web paths get pages."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    defaults: dict[type[Exception], Handler] = {
        WorkflowError: _workflow_error_json,
        RequestValidationError: request_validation_exception_handler,
        StarletteHTTPException: http_exception_handler,
    }
    registered = {k: v for k, v in app.exception_handlers.items() if isinstance(k, type)}
    for kind, handler in {**defaults, **registered}.items():
        app.add_exception_handler(kind, _pages_or(handler))
