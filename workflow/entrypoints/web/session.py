"""Who is behind a page request: logging in and out, the session cookie, CSRF tokens and the
same-origin check, and reading a POSTed form safely.

CSRF: the synchronizer-token pattern. The session lives server-side (`WebSession`) and
already holds a random per-session token; every form carries it and every POST compares it
with `secrets.compare_digest`. The CSRF libraries for Starlette/FastAPI (starlette-csrf,
fastapi-csrf-protect, asgi-csrf) implement the signed double-submit cookie, which is what an
app *without* server-side sessions needs; they need a signing secret this app does not have,
and starlette-csrf reads the token from a request header, which a plain HTML form (no
JavaScript) cannot send. With the session on the server the synchronizer token is the
stronger pattern (OWASP's first recommendation) and is these few lines.
Before login there is no session: the login form is guarded by a random pre-session cookie
(HttpOnly, SameSite=Strict, Path=/login) whose value the form echoes (double submit), and
every POST is also refused when the browser says it comes from another site (Origin,
Sec-Fetch-Site), which closes the cookie-injection gap of an unsigned double submit.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from workflow import auth, db
from workflow.domain.errors import (
    Forbidden,
    InvalidInput,
    TooManyAttempts,
    Unauthenticated,
    WorkflowError,
    refusal,
)
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.http.problems import PayloadTooLarge
from workflow.entrypoints.web.pages import WebUser, render
from workflow.services import users
from workflow.settings import get_settings

SESSION_COOKIE = "kv_session"
LOGIN_COOKIE = "kv_login"  # the pre-session token that guards the login form
FORM_MAX_BYTES = 1024 * 1024  # the longest feedback text fits many times over
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%?=&#-]*")


def _secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https" or get_settings().kvalitet_env == "production"


def current_user(session: Session, request: Request) -> WebUser:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise refusal(Unauthenticated, "unauthenticated", "Du är inte inloggad.")
    actor, web_session = auth.session_actor(session, session_id, now=now())
    return WebUser(actor=actor, session_id=session_id, csrf_token=web_session.csrf_token)


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
        Forbidden,
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
        raise refusal(Forbidden, "cross_site", "Formuläret skickades från en annan webbplats.")


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
        raise refusal(PayloadTooLarge, "too_large", message)


FormDep = Annotated[FormData, Depends(posted_form)]


def form_text(form: FormData, name: str, limit: int = 10_000) -> str:
    value = form.get(name)
    return clean_text(value)[:limit] if isinstance(value, str) else ""


def clean_text(value: str) -> str:
    """Trimmed, without control characters (PostgreSQL refuses NUL in text) but line breaks."""
    return _CONTROL.sub("", value).strip()


def safe_next(value: str | None) -> str:
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


router = APIRouter(include_in_schema=False)


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
        {"login_token": token, "error": error, "name": name, "next": safe_next(next_path)},
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


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> Response:
    if optional_user(request) is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return _login_page(request, next_path=next_path)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: FormDep) -> Response:
    name = form_text(form, "name", 200)
    password = form.get("password")
    next_path = safe_next(form_text(form, "next", 2000))
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
            _, secret = auth.login(
                session,
                name=name,
                password=password if isinstance(password, str) else "",
                now=now(),
                address=request.client.host if request.client else "",
            )
        except TooManyAttempts as error:
            return _login_page(
                request,
                status=429,
                error=" ".join(r.message for r in error.reasons),
                name=name,
                next_path=next_path,
                headers={"Retry-After": str(error.retry_after)},
            )
        except Unauthenticated:
            pass  # caught inside the transaction, so the failed attempt is committed
        else:
            session_id = secret
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


# --- choosing a password from an e-mailed one-time link --------------------------------------

PasswordToken = Annotated[str, Path(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


def _password_page(
    request: Request, token: str, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    """The form, guarded like the login form: a pre-session cookie its hidden field echoes."""
    form_token = _login_token(request)
    response = render(
        request,
        "setup/password.html",
        {"token": token, "error": error, "login_token": form_token},
        user=None,
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        form_token,
        max_age=2 * 3600,
        path="/password",
        httponly=True,
        samesite="strict",
        secure=_secure_cookies(request),
    )
    return response


@router.get("/password/{token}", response_class=HTMLResponse)
def password_form(request: Request, token: PasswordToken) -> Response:
    with db.transaction() as session:
        users.link_user(session, token, now=now())  # 404 page for a used or expired link
    return _password_page(request, token)


@router.post("/password/{token}", response_class=HTMLResponse)
def choose_password(request: Request, token: PasswordToken, form: FormDep) -> Response:
    """Set the password (argon2) and log in: the link is used up in the same transaction."""
    if not _same_token(form.get("csrf_token"), request.cookies.get(LOGIN_COOKIE, "")):
        return _password_page(
            request, token, error="Formuläret hade gått ut. Försök igen.", status=403
        )
    password, repeated = form.get("password"), form.get("password_again")
    if not isinstance(password, str) or password != repeated:
        return _password_page(
            request, token, error="Lösenorden är inte lika. Skriv samma lösenord två gånger.",
            status=422,
        )  # fmt: skip
    try:
        with db.transaction() as session:
            user = users.set_password_from_link(session, token, password=password, now=now())
            _, session_id = auth.login(
                session,
                name=user.name,
                password=password,
                now=now(),
                address=request.client.host if request.client else "",
            )
    except InvalidInput as error:
        message = " ".join(r.message for r in error.reasons)
        return _password_page(request, token, error=message, status=422)
    response = RedirectResponse("/?ok=password_set", status_code=303)
    _set_session_cookie(response, request, session_id)
    response.delete_cookie(LOGIN_COOKIE, path="/password")
    return response
