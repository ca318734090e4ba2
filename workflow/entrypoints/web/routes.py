"""The pages one reads: the dashboard, the entry list, an entry, its documents and the
outbox; and `install`, which adds every page, the CSS and the error pages to the app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from workflow import auth, db, outbox, services
from workflow.domain.access import Role
from workflow.domain.errors import Forbidden, NotFound, Reason, refusal
from workflow.domain.rules import EARLIEST_YEAR, LATEST_YEAR
from workflow.domain.stages import STAGE_LABELS_SV, Stage
from workflow.entrypoints.http.deps import now, visible_entry
from workflow.entrypoints.http.schemas import MAX_ID
from workflow.entrypoints.web import errors, forms, group_messages, outbox_control
from workflow.entrypoints.web.entry_page import OUTBOX_PAGE_SIZE, entry_context
from workflow.entrypoints.web.pages import STATIC_DIR, Id, error_page, render
from workflow.entrypoints.web.session import (
    FormDep,
    check_csrf,
    current_user,
    form_text,
    safe_next,
)
from workflow.entrypoints.web.session import router as login_router
from workflow.entrypoints.web.words import STATUS_LABELS, today
from workflow.models import Cycle
from workflow.queries import documents, messages, registry, todo
from workflow.queries import entries as entry_queries

router = APIRouter(include_in_schema=False)
# The years a page's address may name: those a cycle can have.
Year = Annotated[int | None, Query(ge=EARLIEST_YEAR, le=LATEST_YEAR)]


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, year: Year = None) -> Response:
    """The cycle at a glance: entries per stage and class, deadlines, overdue, failed e-mail."""
    with db.transaction() as session:
        user = current_user(session, request)
        cycles = registry.cycles(session, newest_first=True)
        cycle = next((c for c in cycles if c.year == year), None) if year else None
        if year is not None and cycle is None:
            raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
        cycle = cycle or (cycles[0] if cycles else None)
        visible = auth.visible_entry_ids(session, user.actor)
        failed_ids = messages.message_ids(session, visible, status="failed", limit=10)
        failed_count = messages.message_count(session, visible, status="failed")
        failed = messages.messages_with_units(session, failed_ids)
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
            overview = entry_queries.cycle_overview(session, cycle, today=today(), visible=scope)
            context.update(_cycle_overview(cycle, overview))
            context["entries"] = entry_queries.entry_views(
                session, year=cycle.year, visible=scope, limit=DASHBOARD_ENTRIES
            )
            context["todo"] = todo.todo_for(
                session, user.actor, cycle, today=today(), failed_messages=failed_count
            )
    return render(request, "dashboard.html", context, user=user)


DASHBOARD_ENTRIES = 50  # the rest are a click away, page by page, on /entries
QUEUE_WARN_SECONDS = 15 * 60  # the relay runs every 10 s: a quarter of an hour is a stall


def _cycle_overview(cycle: Cycle, overview: entry_queries.CycleOverview) -> dict[str, Any]:
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


ENTRY_PAGE_SIZE = 100


@router.get("/entries", response_class=HTMLResponse)
def entries_page(
    request: Request,
    year: Year = None,
    stage: Annotated[str, Query(max_length=50)] = "",
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
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
        cycles = registry.cycles(session, newest_first=True)
        cycle = next((c for c in cycles if c.year == year), None) if year else None
        if year is not None and cycle is None:
            raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
        cycle = cycle or (cycles[0] if cycles else None)
        entries = (
            entry_queries.entry_views(
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
        context = entry_context(session, user, entry_id, saved=request.query_params.get("ok"))
    return render(request, "entry.html", context, user=user)


@router.get("/entries/{entry_id}/documents/{document_id}")
def download_document(request: Request, entry_id: Id, document_id: Id) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        visible_entry(session, user.actor, entry_id)
        document = documents.entry_document(session, entry_id, document_id)
        if document is None:
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
        ids = messages.message_ids(session, visible, status=chosen, limit=OUTBOX_PAGE_SIZE)
        listed = messages.messages_with_units(session, ids)
        counts = {s: messages.message_count(session, visible, status=s) for s in STATUS_LABELS}
        years = [c.year for c in registry.cycles(session, newest_first=True)]
    return render(
        request,
        "outbox.html",
        {
            "messages": listed,
            "counts": counts,
            "total": sum(counts.values()),
            "status": chosen or "",
            "page_size": OUTBOX_PAGE_SIZE,
            "years": years,
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
                Forbidden, "forbidden", "Endast administratörer kan skicka om meddelanden."
            )
        services.retry_message(session, message_id, now=now())
    back = safe_next(form_text(form, "back", 200)) if form.get("back") else "/outbox"
    separator = "&" if "?" in back else "?"
    return RedirectResponse(
        f"{back}{separator}{urlencode({'ok': 'retried'})}",
        status_code=303,
    )


def install(app: FastAPI) -> None:
    """Add the pages, their CSS and page-rendering error handlers to `app`: every handler
    the API registered keeps answering its own paths; web paths get pages."""
    for pages in (login_router, router, forms.router, outbox_control.router, group_messages.router):
        app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
