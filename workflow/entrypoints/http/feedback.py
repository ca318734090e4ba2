"""Feedback reports over HTTP (JSON field names are a contract):

- `POST /api/v1/cycles/{year}/feedback-release` (admin) `{"award_class": optional, "at":
  optional ISO date-time with zone}` → the release: `{"id", "year", "award_class", "status"
  (scheduled | done | refused | cancelled), "due_at", "done_at", "released", "reasons"}`.
  Without `at` (or with a moment passed) it is carried out at once; 409 with every unit named
  while entries of its scope lack consensus (nothing changed).
- `GET /api/v1/cycles/{year}/feedback-release` (admin) → `{"year", "classes": [{"award_class",
  "ready", "released", "lacking": [unit names]}], "releases": [release, …]}`.
- `GET /api/v1/entries/{id}/feedback-report.pdf` and `.docx`: the entry's report; the admin and
  its examiners at any time, its unit contact and coordinator once released — 404 otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from sqlmodel import Session, col, select

from workflow.documents import FORMATS
from workflow.entrypoints.http.deps import TokenDep, authorised, now
from workflow.entrypoints.http.problems import documented
from workflow.entrypoints.http.reports import download_response
from workflow.entrypoints.http.schemas import AwardClass, JsonDateTime, Strict
from workflow.models import Cycle, FeedbackRelease
from workflow.services import feedback_release
from workflow.services.examination import cycle_of_year

router = APIRouter(
    prefix="/api/v1", tags=["feedback"], responses=documented(400, 401, 403, 404, 409, 422)
)
YearInPath = Annotated[int, Path(ge=1, le=9999)]
EntryInPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ReleaseIn(Strict):
    award_class: AwardClass | None = None
    at: JsonDateTime | None = None


def release_view(release: FeedbackRelease, year: int) -> dict[str, Any]:
    return {
        "id": release.id,
        "year": year,
        "award_class": release.award_class,
        "status": release.status,
        "due_at": release.due_at.isoformat(),
        "done_at": release.done_at.isoformat() if release.done_at else None,
        "released": release.released,
        "reasons": list(release.reasons),
    }


def releases_of(session: Session, cycle: Cycle) -> list[FeedbackRelease]:
    return list(
        session.exec(
            select(FeedbackRelease)
            .where(FeedbackRelease.cycle_id == cycle.id)
            .order_by(col(FeedbackRelease.id))
        )
    )


@router.post("/cycles/{year}/feedback-release")
def release(year: YearInPath, body: ReleaseIn, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        made = feedback_release.release_feedback(
            session, year=year, award_class=body.award_class, at=body.at, acting=actor, now=now()
        )
        return release_view(made, year)


@router.get("/cycles/{year}/feedback-release")
def release_state(year: YearInPath, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        classes = feedback_release.readiness(session, year=year, acting=actor)
        cycle = cycle_of_year(session, year)
        return {
            "year": year,
            "classes": [
                {
                    "award_class": c.award_class,
                    "ready": c.ready,
                    "released": c.released,
                    "lacking": list(c.lacking),
                }
                for c in classes
            ],
            "releases": [release_view(r, year) for r in releases_of(session, cycle)],
        }


_FILE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Återkopplingsrapporten", "content": {t: {} for t in FORMATS.values()}}
}


@router.get("/entries/{entry_id}/feedback-report.pdf", response_class=Response, responses=_FILE)
def report_pdf(entry_id: EntryInPath, token: TokenDep) -> Response:
    with authorised(token) as (session, actor):
        return download_response(
            *feedback_release.report_for_reader(session, actor, entry_id, "pdf")
        )


@router.get("/entries/{entry_id}/feedback-report.docx", response_class=Response, responses=_FILE)
def report_docx(entry_id: EntryInPath, token: TokenDep) -> Response:
    with authorised(token) as (session, actor):
        return download_response(
            *feedback_release.report_for_reader(session, actor, entry_id, "docx")
        )
