"""What every page shares: the Jinja environment, the person behind the request, and how a
page (or an error page) is rendered with the security headers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from workflow import swedish
from workflow.domain.access import ROLE_LABELS_SV, Actor, Role
from workflow.domain.errors import Reason
from workflow.entrypoints.web.words import (
    DOCUMENT_LABELS,
    ERROR_TITLES,
    FIELD_LABELS,
    NOTICES,
    STATUS_LABELS,
    days_from_today,
    fact_value,
    stage_label,
)

TEMPLATE_DIR = FilePath(__file__).resolve().parents[3] / "templates" / "web"
STATIC_DIR = TEMPLATE_DIR / "static"
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


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        swedish.FILTERS,
        # A page shows what it has rather than fail on a value it cannot read.
        datum=swedish.datum_or_text,
        klass=swedish.klass_or_code,
        stage_label=stage_label,
        filesize=swedish.filesize,
        days_from_today=days_from_today,
        varaktighet=swedish.varaktighet,
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
