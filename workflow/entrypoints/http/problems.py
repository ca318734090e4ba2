"""Errors as HTTP answers, once: which status each named error gets, and the JSON problem
body `{"detail", "reasons": [{"code", "message"}]}` every refusal of the API carries."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from workflow.domain.errors import (
    Conflict,
    Forbidden,
    Ineligible,
    InvalidInput,
    NotFound,
    Reason,
    StaleVersion,
    TooManyAttempts,
    TransitionRefused,
    Unauthenticated,
    WorkflowError,
)
from workflow.entrypoints.http import schemas
from workflow.entrypoints.http.words import HTTP_STATUS_REASONS, field_message

log = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[WorkflowError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (TooManyAttempts, 429),
    (NotFound, 404),
    (StaleVersion, 409),
    (Conflict, 409),
    (InvalidInput, 422),
    (TransitionRefused, 422),
    (Ineligible, 422),
)


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


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of refusals with these statuses."""
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


# --- handlers (module level, so the web pages can fall back on them) ------------------------


async def workflow_error_response(request: Request, error: WorkflowError) -> JSONResponse:
    return problem(status_for(error), error.reasons)


async def invalid_request_response(request: Request, error: RequestValidationError) -> JSONResponse:
    reasons = [Reason("invalid_field", field_message(e)) for e in error.errors()]
    return problem(422, reasons)


async def http_error_response(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code, message = HTTP_STATUS_REASONS.get(
        error.status_code, ("http_error", f"Begäran kunde inte utföras ({error.status_code}).")
    )
    detail = str(error.detail)
    if error.status_code == 413 or (detail and not detail.isascii()):
        message = detail  # our own words already (the upload and body limits say how big)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return problem(error.status_code, [Reason(code, message)], headers)


def _leaf_routes(routes: Any) -> Any:
    """The routes themselves: FastAPI groups an included router's routes under one entry."""
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is not None:
            yield from _leaf_routes(inner)
        else:
            yield route


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


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


def install_handlers(app: FastAPI) -> None:
    """Answer every error the app can meet with its problem body."""
    app.add_exception_handler(WorkflowError, workflow_error_response)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid_request_response)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_response)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, database_unavailable_response)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, unstorable_value_response)
    app.add_exception_handler(OverflowError, unstorable_value_response)
    app.add_exception_handler(IntegrityError, constraint_response)  # type: ignore[arg-type]


def document_problems_everywhere(app: FastAPI) -> None:
    """Every operation under /api/v1 answers its refusals with the handlers above, whichever
    router it comes from (routers are included after this app is made): say so in the
    OpenAPI document, which is built on first request, when every router is in."""
    build = app.openapi
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    refusals = documented(400, 401, 403, 404, 409, 422)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        # The API's routes reference Problem, so its schema is in the components.
        assert "Problem" in document["components"]["schemas"]
        for path, operations in document.get("paths", {}).items():
            if not path.startswith("/api/v1/"):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, spec in refusals.items():
                    current = responses.get(str(status), {})
                    json_schema = current.get("content", {}).get("application/json", {})
                    if json_schema.get("schema") != problem_ref:
                        responses[str(status)] = {
                            "description": spec["description"],
                            "content": {"application/json": {"schema": problem_ref}},
                        }
        return document

    app.openapi = openapi  # type: ignore[method-assign]
