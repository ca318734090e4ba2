"""Calendar feeds (iCalendar) and the award office's exports (CSV, XLSX) under /api/v1.

The feed is read by calendar apps, which cannot log in: it takes a token in the URL instead of
`Authorization`. A wrong or revoked token, and an organisation the token does not open, all get
the same 404, so the answer never tells whether an organisation exists. Everything else here
needs a Bearer token like the rest of the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from workflow import exports, feeds, services
from workflow.domain.access import Role, may_manage_feed
from workflow.domain.errors import Forbidden, NotFound, feed_not_found, refusal
from workflow.domain.rules import EARLIEST_YEAR, LATEST_YEAR
from workflow.entrypoints.http.caching import not_modified, validators
from workflow.entrypoints.http.deps import ActorDep, SessionDep, now, require, visible_entry
from workflow.entrypoints.http.schemas import MAX_ID, Id, Strict
from workflow.models import FeedToken
from workflow.queries import registry

router = APIRouter(prefix="/api/v1")

CALENDAR_MEDIA_TYPE = "text/calendar; charset=utf-8"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
ExportYear = Annotated[int, Query(ge=EARLIEST_YEAR, le=LATEST_YEAR)]


class FeedTokenCreate(Strict):
    organisation_id: Id | None = Field(
        default=None, description="The organisation's feed; null for the whole city's."
    )


class FeedTokenIssued(BaseModel):
    id: int
    organisation_id: int | None
    token: str = Field(description="Shown this once; only its hash is kept.")
    url: str = Field(description="The feed's address, for a calendar app to subscribe to.")


class FeedTokenPublic(BaseModel):
    id: int
    organisation_id: int | None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


@router.get(
    "/calendar.ics",
    name="calendar_feed",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "The iCalendar feed."},
        404: {"description": "Wrong or revoked token, or an organisation it does not open."},
    },
)
def calendar_feed(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Query(description="The feed token from the subscription URL.")] = "",
    organisation_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The calendar of every cycle's dates, with the board meetings and site visits of one
    organisation's entries (or of all, with a whole-city token); no login, the token decides.
    It answers with ETag and Last-Modified, and 304 to a client that already has it."""
    feed_token = services.resolve_feed_token(session, token)
    if feed_token.organisation_id is not None:
        if organisation_id not in (None, feed_token.organisation_id):
            raise feed_not_found()
        organisation_id = feed_token.organisation_id
    moment = now()
    feed = feeds.calendar_feed(session, organisation_id=organisation_id, now=moment)
    headers = {
        "Content-Disposition": 'inline; filename="kvalitetsutmarkelsen.ics"',
        "Cache-Control": "private, max-age=300",
        **validators(feed.etag, feed.last_modified, moment),
    }
    if not_modified(request, feed.etag, feed.last_modified, moment):
        headers.pop("Content-Disposition")
        return Response(status_code=304, headers=headers)
    return Response(content=feed.body, media_type=CALENDAR_MEDIA_TYPE, headers=headers)


@router.post("/calendar-tokens", status_code=201, response_model=FeedTokenIssued)
def create_calendar_token(
    body: FeedTokenCreate, request: Request, session: SessionDep, actor: ActorDep
) -> dict[str, Any]:
    """A subscription URL for one organisation's feed (admin, or its coordinator) or for the
    whole city's (admin). The token is returned this once."""
    if not may_manage_feed(actor, body.organisation_id):
        raise refusal(
            Forbidden,
            "forbidden",
            "Du kan bara skapa kalenderlänkar för din egen organisation.",
        )
    issued = services.issue_feed_token(
        session, organisation_id=body.organisation_id, created_by=actor.name, now=now()
    )
    url = request.url_for("calendar_feed").include_query_params(token=issued.token)
    return {
        "id": issued.feed_token.id,
        "organisation_id": issued.feed_token.organisation_id,
        "token": issued.token,
        "url": str(url),
    }


@router.get("/calendar-tokens", response_model=list[FeedTokenPublic])
def list_calendar_tokens(session: SessionDep, actor: ActorDep) -> list[FeedToken]:
    """The feed tokens one may revoke (never the tokens themselves: only their hashes exist)."""
    require(actor, Role.COORDINATOR)
    return registry.visible_feed_tokens(session, actor)


@router.delete("/calendar-tokens/{token_id}", status_code=204)
def revoke_calendar_token(token_id: int, session: SessionDep, actor: ActorDep) -> Response:
    """Revoke a subscription URL; its feed answers 404 from now on."""
    require(actor, Role.COORDINATOR)
    feed_token = session.get(FeedToken, token_id) if 1 <= token_id <= MAX_ID else None
    if feed_token is None or not may_manage_feed(actor, feed_token.organisation_id):
        # Another organisation's token is as unknown to a coordinator as a missing one.
        raise refusal(NotFound, "not_found", f"Kalenderlänken med id {token_id} finns inte.")
    services.revoke_feed_token(session, token_id, now())
    return Response(status_code=204)


@router.get(
    "/exports/entries.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_entries_csv(session: SessionDep, actor: ActorDep, year: ExportYear) -> Response:
    """The cycle's entries for Excel: stage, class, dates and outcome (admin only)."""
    require(actor)
    return _download(
        exports.entries_csv(session, year=year),
        CSV_MEDIA_TYPE,
        f"kvalitetsutmarkelsen-{year}.csv",
    )


@router.get(
    "/exports/entries.xlsx",
    response_class=Response,
    responses={200: {"content": {exports.XLSX_MEDIA_TYPE: {}}}},
)
def export_entries_xlsx(session: SessionDep, actor: ActorDep, year: ExportYear) -> Response:
    """The same as the CSV, as an Excel workbook (admin only)."""
    require(actor)
    return _download(
        exports.entries_xlsx(session, year=year),
        exports.XLSX_MEDIA_TYPE,
        f"kvalitetsutmarkelsen-{year}.xlsx",
    )


@router.get(
    "/entries/{entry_id}/history.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_history_csv(entry_id: int, session: SessionDep, actor: ActorDep) -> Response:
    """The entry's history for Excel; for anyone who may see the entry (others get 404)."""
    visible_entry(session, actor, entry_id)
    return _download(
        exports.history_csv(session, entry_id), CSV_MEDIA_TYPE, f"historik-post-{entry_id}.csv"
    )


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content=body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
