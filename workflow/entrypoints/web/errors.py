"""Errors as pages: a web path gets a Swedish page with the status and its reasons (or, when
not logged in, the login page); paths under /api/, /metrics and /healthz keep the API's JSON."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from workflow.domain.errors import Reason, Unauthenticated, WorkflowError
from workflow.entrypoints.http.problems import problem, status_for
from workflow.entrypoints.web.pages import error_page
from workflow.entrypoints.web.session import optional_user

NON_PAGE_PREFIXES = ("/api/", "/metrics", "/healthz")


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
    if isinstance(error, Unauthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urlencode({"next": target}) if request.method == "GET" and target != "/" else ""
        return RedirectResponse(f"/login?{query}" if query else "/login", status_code=303)
    user = optional_user(request)
    if isinstance(error, WorkflowError):
        return error_page(request, status_for(error), error.reasons, user=user)
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
    return problem(status_for(error), error.reasons)


def install(app: FastAPI) -> None:
    """Wrap every handler the app has (and FastAPI's defaults) so that web paths get pages;
    every other path keeps the answer its handler gives."""
    defaults: dict[type[Exception], Handler] = {
        WorkflowError: _workflow_error_json,
        RequestValidationError: request_validation_exception_handler,
        StarletteHTTPException: http_exception_handler,
    }
    registered = {k: v for k, v in app.exception_handlers.items() if isinstance(k, type)}
    for kind, handler in {**defaults, **registered}.items():
        app.add_exception_handler(kind, _pages_or(handler))
