"""The jury over HTTP (JSON field names are a contract). Only the admin and the cycle's jury
ever read these routes; a jury user of another cycle gets 404, every other role 403.

- `GET/PUT /api/v1/cycles/{year}/jury` → `{"year", "members": [{"user_id", "name",
  "chair"}], "announce_at", "announced_at"}`; PUT (admin) `{"members": [ids], "chair": id}`.
- `GET /api/v1/cycles/{year}/classes/{class}` /jury → the class as the jury reads it:
  `{"year", "award_class", "class_name", "ranking": [{"rank", "entry_id", "unit",
  "organisation", "score", "summary"}], "recommendations": [{"member", "winners",
  "motivation"}], "decision": {"winners", "no_winner", "motivation", "decided_by",
  "decided_at"} | null, "announced"}`.
- `GET /api/v1/cycles/{year}/classes/{class}/jury-pack.pdf`: the jury pack.
- `PUT /api/v1/cycles/{year}/classes/{class}/recommendations/mine` (a member)
  `{"winners": [entry ids], "motivation"}`.
- `PUT /api/v1/cycles/{year}/classes/{class}/decision` (the chair) `{"winners": [entry ids]
  (empty: no winner this year), "motivation"}`: embargoed until the announcement.
- `POST /api/v1/cycles/{year}/announcement` (admin) `{"at": optional ISO time}`: now, or
  at that moment (a beat task announces when it comes) → `{"year", "announce_at",
  "announced_at", "moved": [entry ids]}`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import Field
from sqlmodel import Session

from workflow.documents.jury_pack import render_jury_pack
from workflow.domain import jury as rules
from workflow.domain.access import Actor
from workflow.domain.calendar import STOCKHOLM
from workflow.entrypoints.http.deps import TokenDep, authorised, now
from workflow.entrypoints.http.problems import documented
from workflow.entrypoints.http.reports import download_response
from workflow.entrypoints.http.schemas import AwardClass, Id, JsonDateTime, Strict
from workflow.services import jury
from workflow.services.examination import cycle_of_year

router = APIRouter(
    prefix="/api/v1", tags=["jury"], responses=documented(400, 401, 403, 404, 409, 422)
)
YearInPath = Annotated[int, Path(ge=1, le=9999)]
ClassInPath = Annotated[AwardClass, Path()]
Motivation = Annotated[str, Field(max_length=rules.MAX_MOTIVATION)]


class CommitteeIn(Strict):
    members: list[Id] = Field(max_length=rules.MAX_MEMBERS)
    chair: Id | list[Id] | None = None


class ChoiceIn(Strict):
    winners: list[Id] = Field(default_factory=list, max_length=50)
    motivation: Motivation = ""


class AnnouncementIn(Strict):
    at: JsonDateTime | None = None


def committee_view(session: Session, year: int, acting: Actor | None) -> dict[str, Any]:
    cycle = cycle_of_year(session, year)
    jury.require_jury(session, acting, cycle)
    announcement = jury.announcement_view(session, year=year, acting=acting)
    return {
        "year": year,
        "members": [
            {"user_id": m.user_id, "name": m.name, "chair": m.chair}
            for m in jury.members_of(session, cycle.id or 0)
        ],
        "announce_at": announcement.announce_at,
        "announced_at": announcement.announced_at,
    }


def class_json(view: jury.ClassView) -> dict[str, Any]:
    decision = view.decision
    return {
        "year": view.year,
        "award_class": view.award_class,
        "class_name": view.class_name,
        "ranking": [
            {
                "rank": i.rank,
                "entry_id": i.entry_id,
                "unit": i.unit,
                "organisation": i.organisation,
                "score": i.score,
                "summary": i.summary,
                "budget_in_balance": i.budget_in_balance,
            }
            for i in view.items
        ],
        "recommendations": [
            {"member": name, "winners": r.winners, "motivation": r.motivation}
            for name, r in view.recommendations
        ],
        "decision": None
        if decision is None
        else {
            "winners": decision.winners,
            "no_winner": not decision.winners,
            "motivation": decision.motivation,
            "decided_by": decision.decided_by,
            "decided_at": decision.decided_at,
        },
        "announced": view.announced,
    }


def _class(session: Session, year: int, award_class: str, actor: Actor) -> dict[str, Any]:
    return class_json(jury.class_view(session, year=year, award_class=award_class, acting=actor))


@router.get("/cycles/{year}/jury")
def get_committee(year: YearInPath, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        return committee_view(session, year, actor)


@router.put("/cycles/{year}/jury")
def put_committee(year: YearInPath, body: CommitteeIn, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        jury.set_members(
            session, year=year, members=body.members, chair=body.chair, acting=actor, now=now()
        )
        return committee_view(session, year, actor)


@router.get("/cycles/{year}/classes/{award_class}/jury")
def get_class(year: YearInPath, award_class: ClassInPath, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        return _class(session, year, award_class, actor)


def pack_pdf(view: jury.ClassView, today: date) -> bytes:
    return render_jury_pack(
        year=view.year, class_name=view.class_name, items=view.items, made_on=today
    )


@router.get(
    "/cycles/{year}/classes/{award_class}/jury-pack.pdf",
    response_class=Response,
    responses={200: {"description": "Juryunderlaget", "content": {"application/pdf": {}}}},
)
def get_pack(year: YearInPath, award_class: ClassInPath, token: TokenDep) -> Response:
    with authorised(token) as (session, actor):
        view = jury.class_view(session, year=year, award_class=award_class, acting=actor)
    data = pack_pdf(view, now().astimezone(STOCKHOLM).date())
    return download_response(f"juryunderlag-{year}-{view.award_class}.pdf", "application/pdf", data)


@router.put("/cycles/{year}/classes/{award_class}/recommendations/mine")
def put_recommendation(
    year: YearInPath, award_class: ClassInPath, body: ChoiceIn, token: TokenDep
) -> dict[str, Any]:
    return _choose(jury.recommend, year, award_class, body, token)


@router.put("/cycles/{year}/classes/{award_class}/decision")
def put_decision(
    year: YearInPath, award_class: ClassInPath, body: ChoiceIn, token: TokenDep
) -> dict[str, Any]:
    return _choose(jury.decide, year, award_class, body, token)


def _choose(
    service: Callable[..., object], year: int, award_class: str, body: ChoiceIn, token: str
) -> dict[str, Any]:
    """A member's recommendation or the chair's decision, then the class as the jury sees it."""
    with authorised(token) as (session, actor):
        service(
            session, year=year, award_class=award_class, winners=body.winners,
            motivation=body.motivation, acting=actor, now=now(),
        )  # fmt: skip
        return _class(session, year, award_class, actor)


@router.post("/cycles/{year}/announcement")
def post_announcement(year: YearInPath, body: AnnouncementIn, token: TokenDep) -> dict[str, Any]:
    at = body.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=STOCKHOLM)
    with authorised(token) as (session, actor):
        done = jury.set_announcement(
            session, year=year, at=at.astimezone(UTC) if at else None, acting=actor, now=now()
        )
        return {
            "year": done.year,
            "announce_at": done.announce_at,
            "announced_at": done.announced_at,
            "moved": done.moved,
        }
